import type { Command } from "commander";
import { formatProblem } from "../errors.ts";
import { loadDirectory, validateFiles } from "../desired/index.ts";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("check a directory of manifests as capstan would check a commit; exit 1 listing every problem")
    .argument("<dir>", "directory holding the manifests")
    .option("--json", "print {valid, objects, problems} as JSON")
    .action(async (dir: string, flags: { json?: boolean }) => {
      const files = await loadDirectory(dir);
      const { objects, problems } = validateFiles(files);
      problems.sort((a, b) => (a.file === b.file ? a.line - b.line || a.column - b.column : a.file < b.file ? -1 : 1));
      const errors = problems.filter((problem) => problem.severity === "error");
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ valid: errors.length === 0, objects: objects.length, problems }, null, 2)}\n`);
      } else {
        for (const problem of problems) process.stdout.write(`${formatProblem(problem)}\n`);
        const warnings = problems.length - errors.length;
        process.stdout.write(
          errors.length === 0
            ? `${objects.length} objects valid${warnings ? `, ${warnings} warning(s)` : ""}\n`
            : `${errors.length} error(s)${warnings ? `, ${warnings} warning(s)` : ""}: nothing would be applied\n`,
        );
      }
      if (errors.length > 0) process.exitCode = 1;
    });
}
