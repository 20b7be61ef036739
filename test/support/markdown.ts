// The code blocks of the docs (README.md and docs/*.md), for the tests that run and type-check them.
import { readdirSync, readFileSync } from "node:fs";

const ROOT = new URL("../../", import.meta.url);

/** README.md and every page of docs/, as paths relative to the repository. */
export const DOC_FILES = [
  "README.md",
  ...readdirSync(new URL("docs/", ROOT))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`),
];

/** The line before a block that cannot run: `<!-- not run: why -->`. */
const NOT_RUN = /^<!-- not run: .+ -->$/;

export interface Block {
  /** "file › heading", with " (2)" and on for further blocks under one heading. */
  key: string;
  lang: "ts" | "js" | "json";
  code: string;
  run: boolean;
}

/** The code blocks of a Markdown file, each named by its file and the heading it is under. */
export function codeBlocks(file: string, markdown: string): Block[] {
  const out: Block[] = [];
  const seen = new Map<string, number>();
  let heading = "";
  let previous = "";
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(\w*)$/.exec(line);
    if (fence) {
      const end = lines.indexOf("```", i + 1);
      const lang = fence[1]!;
      if (lang === "ts" || lang === "js" || lang === "json") {
        const name = `${file} › ${heading}`;
        const n = (seen.get(name) ?? 0) + 1;
        seen.set(name, n);
        out.push({
          key: n === 1 ? name : `${name} (${String(n)})`,
          lang,
          code: lines.slice(i + 1, end).join("\n"),
          run: !NOT_RUN.test(previous),
        });
      }
      i = end;
      previous = "";
      continue;
    }
    const h = /^#{1,4} (.+)$/.exec(line);
    if (h) heading = h[1]!.trim();
    if (line.trim() !== "") previous = line.trim();
  }
  return out;
}

/** Every ts, js and json block of README.md and docs/. */
export function docBlocks(): Block[] {
  return DOC_FILES.flatMap((file) => codeBlocks(file, readFileSync(new URL(file, ROOT), "utf8")));
}
