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

/** A CSV record longer than the limit csvRecords was given: reading stopped before buffering more of it. */
export class CsvRecordTooLongError extends Error {
  override readonly name: string = "CsvRecordTooLongError";
  /** The limit, in UTF-8 bytes. */
  readonly limit: number;
  /** The 1-based number of the record that was too long (the header is record 1). */
  readonly record: number;

  constructor(limit: number, record: number) {
    super(`CSV record ${String(record)} is longer than ${String(limit)} bytes`);
    this.limit = limit;
    this.record = record;
  }
}

/** The UTF-8 length of text[from, to): a surrogate pair (4 bytes) counts 2 for each half. */
function utf8Length(text: string, from: number, to: number): number {
  let n = to - from;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) n += code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 1 : 2;
  }
  return n;
}

/** What ends a run of plain text outside quotes. */
const SPECIAL = /[",\r\n]/g;

/**
 * Yields CSV records from text chunks as soon as each is complete, however the chunks split it (inside a quoted
 * field too). A final record without a line break is yielded at the end; blank lines are skipped. A leading byte
 * order mark is dropped. Throws CsvSyntaxError for text after a closing quote or a quote that never ends, and
 * CsvRecordTooLongError as soon as a record (its text in UTF-8, quotes, commas and quoted line breaks included, its
 * own line break not) is longer than `maxRecordBytes`, without buffering more of it.
 */
export async function* csvRecords(
  chunks: AsyncIterable<string>,
  { maxRecordBytes = Number.POSITIVE_INFINITY }: { maxRecordBytes?: number } = {},
): AsyncGenerator<string[], void, undefined> {
  let record: string[] = [];
  let recordBytes = 0; // the UTF-8 length of the record read so far
  let records = 0; // the records ended so far
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
    // A failure inside the chunk comes after the records the chunk completed before it.
    let failure: Error | undefined;
    // Counts text[from, to) into the record, or throws before the record grows past the limit.
    const count = (from: number, to: number) => {
      recordBytes += utf8Length(chunk, from, to);
      if (recordBytes > maxRecordBytes) throw new CsvRecordTooLongError(maxRecordBytes, records + 1);
    };
    try {
      let i = 0;
      while (i < chunk.length) {
        if (quoted) {
          // Up to the next quote at once: a long field is added in slices, not character by character.
          const quote = chunk.indexOf('"', i);
          const end = quote < 0 ? chunk.length : quote;
          count(i, quote < 0 ? end : end + 1);
          field += chunk.slice(i, end);
          if (quote < 0) {
            i = chunk.length;
          } else {
            quoted = false;
            afterQuote = true;
            i = quote + 1;
          }
          continue;
        }
        const c = chunk[i]!;
        if (c === "\n" || c === "\r") {
          if (record.length > 0 || fieldStarted || field !== "" || afterQuote) {
            endField();
            ready.push(record);
            records++;
          }
          record = [];
          recordBytes = 0;
          i += c === "\r" && chunk[i + 1] === "\n" ? 2 : 1;
          continue;
        }
        if (afterQuote && c === '"') {
          // A doubled quote inside a quoted field.
          count(i, i + 1);
          field += '"';
          quoted = true;
          afterQuote = false;
          i++;
        } else if (c === ",") {
          count(i, i + 1);
          endField();
          fieldStarted = true;
          i++;
        } else if (c === '"' && field === "" && !afterQuote) {
          count(i, i + 1);
          quoted = true;
          fieldStarted = true;
          i++;
        } else {
          if (afterQuote) throw new CsvSyntaxError("text after a closing quote");
          // A run of plain text, up to the next comma, quote or line break (a quote inside an unquoted field is
          // plain text).
          SPECIAL.lastIndex = i + 1;
          const end = SPECIAL.exec(chunk)?.index ?? chunk.length;
          count(i, end);
          field += chunk.slice(i, end);
          fieldStarted = true;
          i = end;
        }
      }
    } catch (error) {
      failure = error as Error;
    }
    yield* ready;
    if (failure !== undefined) throw failure;
  }
  if (quoted) throw new CsvSyntaxError("a quoted field never ends");
  if (record.length > 0 || fieldStarted || field !== "" || afterQuote) {
    endField();
    yield record;
  }
}
