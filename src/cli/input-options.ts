// What every command gets from the entry point, and the input options that evaluate, jobs create and labels
// evaluate share.

import { type OptionSpecs, type ParsedValues, stringValue, stringValues } from "./args.js";
import type { InputSources } from "./input-items.js";

/** What a command runs with: its arguments (without the command words) and a signal that fires on Ctrl-C. */
export interface CommandContext {
  /** The arguments after the command words were taken out. */
  argv: string[];
  /** Fires on SIGINT or SIGTERM: stop, report what is done, and return. */
  signal: AbortSignal;
}

/** A command: returns the exit code. */
export type Command = (context: CommandContext) => Promise<number>;

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

/** The input sources the parsed options name. */
export function inputSources(values: ParsedValues, positionals: string[], stdin: InputSources["stdin"]): InputSources {
  return {
    texts: positionals,
    files: stringValues(values, "file"),
    imageUrls: stringValues(values, "image-url"),
    batch: stringValue(values, "input"),
    format: stringValue(values, "format"),
    stdin,
  };
}
