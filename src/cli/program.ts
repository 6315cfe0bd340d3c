import { Command, CommanderError } from "commander";
import { messageOf, toExitCode } from "../errors.ts";

/**
 * Runs a commander program with capstan's exit codes: 0 ok, 1 failure,
 * 2 usage. Help and version print and exit 0.
 */
export async function runProgram(program: Command, argv: string[]): Promise<never> {
  program.exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
    process.exit(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      const quiet = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code);
      process.exit(quiet ? 0 : 2);
    }
    process.stderr.write(`error: ${messageOf(error)}\n`);
    process.exit(toExitCode(error));
  }
}

/** `--server` for the commands that talk to a running control plane, like kubectl. */
export function serverOption(command: Command): Command {
  return command.option(
    "--server <url>",
    "control plane URL (env CAPSTAN_SERVER)",
    process.env.CAPSTAN_SERVER ?? "http://127.0.0.1:8080",
  );
}
