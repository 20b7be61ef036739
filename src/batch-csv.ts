// The CSV of batch jobs: writing the input file (ref_id,type,content) and
// reading CSV records incrementally from a stream of text, for the output
// file. RFC 4180: fields in double quotes may hold commas, line breaks and
// doubled quotes.

/** The quoted form of a field when it needs quotes (a comma, a quote, a line break, or edge spaces). */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV line (with its CRLF) from fields. */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

/** A malformed CSV file: says where. */
export class CsvSyntaxError extends Error {
  override readonly name: string = "CsvSyntaxError";
}

/**
 * Yields CSV records from text chunks as soon as each is complete, however the chunks split it (inside a quoted
 * field too). A final record without a line break is yielded at the end; blank lines are skipped. A leading byte
 * order mark is dropped. Throws CsvSyntaxError for text after a closing quote or a quote that never ends.
 */
export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<string[], void, undefined> {
  let record: string[] = [];
  let field = "";
  let quoted = false; // inside a quoted field
  let afterQuote = false; // just read a closing quote (or the first of a doubled one)
  let fieldStarted = false;
  let first = true;
  const endField = () => {
    record.push(field);
    field = "";
    fieldStarted = false;
    afterQuote = false;
  };
  for await (let chunk of chunks) {
    if (first && chunk.length > 0) {
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      first = false;
    }
    const ready: string[][] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (quoted) {
        if (c === '"') {
          quoted = false;
          afterQuote = true;
        } else field += c;
        continue;
      }
      if (afterQuote && c === '"') {
        // A doubled quote inside a quoted field.
        field += '"';
        quoted = true;
        afterQuote = false;
        continue;
      }
      if (c === ",") {
        endField();
        fieldStarted = true;
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && chunk[i + 1] === "\n") i++;
        if (record.length > 0 || fieldStarted || field !== "" || afterQuote) {
          endField();
          ready.push(record);
        }
        record = [];
      } else if (c === '"' && field === "" && !afterQuote) {
        quoted = true;
        fieldStarted = true;
      } else {
        if (afterQuote) throw new CsvSyntaxError("text after a closing quote");
        field += c;
        fieldStarted = true;
      }
    }
    yield* ready;
  }
  if (quoted) throw new CsvSyntaxError("a quoted field never ends");
  if (record.length > 0 || fieldStarted || field !== "" || afterQuote) {
    endField();
    yield record;
  }
}
