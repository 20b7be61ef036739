// The tool's formats: the CSV reader, telling images from text, durations, and the progress bar.

import { describe, expect, it } from "vitest";
import { parseDuration, UsageError } from "../../src/cli/args.js";
import { CsvError, parseCsv } from "../../src/cli/csv-reader.js";
import { contentOfFile, looksLikeImage } from "../../src/cli/item-content.js";
import { formatEta, ProgressBar, renderProgress } from "../../src/cli/progress-bar.js";
import { makePng } from "../../src/emulator/index.js";

describe("parseCsv", () => {
  it("reads quoted fields with commas, doubled quotes and line breaks, CRLF or LF, and a BOM", () => {
    const text = '\uFEFFid,content\r\n1,"a, b"\r\n2,"say ""hi"""\n3,"two\nlines"\n4,\n';
    expect(parseCsv(text).map((r) => [r.line, r.fields])).toEqual([
      [1, ["id", "content"]],
      [2, ["1", "a, b"]],
      [3, ["2", 'say "hi"']],
      [4, ["3", "two\nlines"]],
      [6, ["4", ""]],
    ]);
  });

  it("keeps a last record without a line break, and empty quoted fields", () => {
    expect(parseCsv('a,"",c').map((r) => r.fields)).toEqual([["a", "", "c"]]);
    expect(parseCsv("")).toEqual([]);
  });

  it("says where a malformed file goes wrong", () => {
    expect(() => parseCsv('id,content\n1,"never closed\n')).toThrow(
      new CsvError(2, "a quoted field is never closed; add the closing quote"),
    );
    expect(() => parseCsv('1,"a"b\n')).toThrow(/line 1: text follows a closing quote/);
    expect(() => parseCsv('x\n1,ab"c\n')).toThrow(/line 2: a field that does not start with a quote contains one/);
  });
});

describe("telling images from text", () => {
  const png = makePng(2, 2);
  const gif = Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1");
  const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16);
  const webp = Buffer.concat([Buffer.from("RIFF"), Buffer.alloc(4), Buffer.from("WEBPVP8 ")]);

  it("recognises image magic bytes, supported or not", () => {
    for (const bytes of [png, gif, jpeg, webp]) expect(looksLikeImage(bytes)).toBe(true);
    expect(looksLikeImage(Buffer.from("hello world"))).toBe(false);
  });

  it("goes by extension first, then magic bytes, then UTF-8", () => {
    expect(contentOfFile("photo.png", Buffer.from("not really a png")).case).toBe("image");
    expect(contentOfFile("upload", png).case).toBe("image");
    expect(contentOfFile("notes.txt", Buffer.from("héllo"))).toEqual({ case: "text", value: "héllo" });
    expect(contentOfFile("data.bin", Uint8Array.of(0, 1, 2, 255)).case).toBe("image");
  });
});

describe("parseDuration", () => {
  it("reads ms, s, m and h, with seconds for a bare number", () => {
    expect(parseDuration("1500ms", "--timeout", "evaluate")).toBe(1500);
    expect(parseDuration("30s", "--timeout", "evaluate")).toBe(30_000);
    expect(parseDuration("2", "--timeout", "evaluate")).toBe(2000);
    expect(parseDuration("1.5m", "--timeout", "evaluate")).toBe(90_000);
    expect(parseDuration("1h", "--timeout", "evaluate")).toBe(3_600_000);
    for (const bad of ["", "0", "-1s", "soon", "5 minutes"]) {
      expect(() => parseDuration(bad, "--timeout", "evaluate")).toThrow(UsageError);
    }
  });
});

describe("the progress bar", () => {
  it("shows items done, percent, rate and ETA", () => {
    expect(renderProgress(0, 1000, 0, 80)).toBe(`[${".".repeat(40)}] 0/1000   0%`);
    expect(renderProgress(250, 1000, 1000, 80)).toBe(
      `[${"#".repeat(10)}${".".repeat(30)}] 250/1000  25%  250 items/s  ETA 3s`,
    );
    expect(renderProgress(1000, 1000, 4000, 80)).toBe(`[${"#".repeat(40)}] 1000/1000 100%  250 items/s`);
    expect(renderProgress(3, 1000, 2000, 40)).toMatch(/^\[\.{10}\] 3\/1000 {3}0% {2}1\.5 items\/s {2}ETA 11m05s$/);
  });

  it("formats the time left", () => {
    expect([formatEta(4.4), formatEta(125), formatEta(3720)]).toEqual(["4s", "2m05s", "1h02m"]);
  });

  it("draws over one line of the terminal, and erases it", () => {
    let written = "";
    const stream = {
      columns: 60,
      write: (text: string) => {
        written += text;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar(stream, 2);
    bar.tick();
    bar.tick();
    expect(written.startsWith("\r\x1b[2K[")).toBe(true);
    expect(written).toContain("2/2 100%");
    written = "";
    bar.clear();
    expect(written).toBe("\r\x1b[2K");
    written = "";
    bar.clear();
    expect(written).toBe("");
  });
});
