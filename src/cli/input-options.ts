// The input options that evaluate, jobs create and labels evaluate share: where content comes from.

import { type OptionSpecs, type ParsedValues, stringValue, stringValues } from "./args.js";
import type { CliIo } from "./command-context.js";
import type { InputSources } from "./input-items.js";

/** The options that say where content comes from. */
export const INPUT_OPTIONS = {
  file: { type: "string", short: "f", multiple: true },
  "image-url": { type: "string", multiple: true },
  input: { type: "string", short: "i" },
  format: { type: "string" },
} as const satisfies OptionSpecs;

/** The help text of the input options. */
export const INPUT_OPTIONS_HELP = `Content (any mix; with none of these, standard input is read as one item):
  [text ...]              text items, one per argument (use -- before text that starts with "-")
  -f, --file <path>       a file, repeatable: images by extension or magic bytes, otherwise UTF-8 text
  --image-url <url>       an image URL for the gateway to fetch, repeatable
  -i, --input <file>      a batch file, one item per row: .jsonl ({"id", "kind", "content", "metadata"?}) or
                          .csv (header row with id, kind, content; other columns become metadata);
                          kind is text, image (base64), image_url or file (a path relative to the batch file);
                          "-" reads the batch from standard input
  --format jsonl|csv      the batch file's format, when its extension does not say`;

/** The input sources the parsed options name, read through the command's standard input and directory. */
export function inputSources(
  values: ParsedValues,
  positionals: string[],
  io: Pick<CliIo, "stdin" | "cwd"> & Partial<Pick<CliIo, "signal">>,
): InputSources {
  return {
    texts: positionals,
    files: stringValues(values, "file"),
    imageUrls: stringValues(values, "image-url"),
    batch: stringValue(values, "input"),
    format: stringValue(values, "format"),
    stdin: io.stdin,
    cwd: io.cwd,
    signal: io.signal,
  };
}
