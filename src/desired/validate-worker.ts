import type { ManifestProblem } from "../errors.ts";
import type { FieldLocation } from "./locate.ts";
import { fieldLocationsOf } from "./object-locations.ts";
import type { DesiredObject, SourceFile } from "./types.ts";
import { validateFile } from "./validate.ts";

/** One file's validation as it crosses back from a worker thread. */
export interface WorkerFileResult {
  objects: DesiredObject[];
  problems: ManifestProblem[];
  /** Per object, the field positions the checks across files may need. */
  locations: Array<Array<[string, FieldLocation]>>;
}

/** Runs in a worker thread of the validation pool (validation-pool.ts). */
export default function validateInWorker(files: SourceFile[]): WorkerFileResult[] {
  return files.map((file) => {
    const { objects, problems } = validateFile(file);
    return { objects, problems, locations: objects.map(fieldLocationsOf) };
  });
}
