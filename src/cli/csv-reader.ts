// A small CSV reader for batch files, following RFC 4180: comma-separated fields, records ended by CRLF or LF,
// fields in double quotes may hold commas, line breaks and doubled quotes (""). Written here rather than taken
// from a dependency because the whole format fits in one state machine.

/** One CSV record: its fields and the line it starts on (1-based), for error messages. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/** A malformed CSV file: says where and what. */
export class CsvError extends Error {
  override readonly name: string = "CsvError";
  /** The 1-based line of the problem. */
  readonly line: number;

  /** Makes an error for `line`; `problem` says what is wrong and how to fix it. */
  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.line = line;
  }
}

/**
 * Parses CSV text into records. A leading UTF-8 byte order mark is skipped, and so is a final line break. Blank
 * lines are kept as records with one empty field, so the caller decides whether they matter.
 *
 * @throws CsvError for a quote inside an unquoted field, text after a closing quote, or a quoted field that never
 *   ends.
 */
export function parseCsv(text: string): CsvRecord[] {
  const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = source.length;
  if (n === 0) return records;

  const endRecord = () => {
    fields.push(field);
    records.push({ fields, line: recordLine });
    fields = [];
    field = "";
  };

  while (i < n) {
    const c = source[i]!;
    if (c === '"') {
      if (field !== "")
        throw new CsvError(
          line,
          'a field that does not start with a quote contains one; quote the whole field and double the inner quotes ("")',
        );
      const quoteLine = line;
      i++;
      for (;;) {
        if (i >= n) throw new CsvError(quoteLine, "a quoted field is never closed; add the closing quote");
        const d = source[i]!;
        if (d === '"') {
          if (source[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === "\n") line++;
        field += d;
        i++;
      }
      const after = source[i];
      if (after !== undefined && after !== "," && after !== "\n" && after !== "\r") {
        throw new CsvError(line, "text follows a closing quote; quote the whole field, and double any quote inside it");
      }
      if (after === undefined) break;
      continue;
    }
    if (c === ",") {
      fields.push(field);
      field = "";
      i++;
      continue;
    }
    if (c === "\r" || c === "\n") {
      endRecord();
      i += c === "\r" && source[i + 1] === "\n" ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += c;
    i++;
  }
  // The last record, unless the text ended with a line break (which closed it already).
  const last = source[n - 1];
  if (last !== "\n" && last !== "\r") endRecord();
  return records;
}
