// Checks every relative link of README.md and docs/*.md: the file it points to exists, and so does the heading its
// #anchor names (GitHub's anchors: the heading in lower case, punctuation dropped, spaces as hyphens).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PAGES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The text outside code blocks and code spans, where links live. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings, with GitHub's -1, -2 … for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of markdown.replace(/^```[\s\S]*?^```$/gm, "").matchAll(/^#{1,6} (.+)$/gm)) {
    const base = anchorOf(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${String(n)}`);
  }
  return out;
}

interface Link {
  page: string;
  target: string;
}

function linksOf(page: string): Link[] {
  const text = prose(readFileSync(join(ROOT, page), "utf8"));
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
    .map((target) => ({ page, target }));
}

/** What is wrong with a link, or undefined when it is fine. */
function brokenLink({ page, target }: Link): string | undefined {
  const [path, anchor] = target.split("#") as [string, string | undefined];
  const file = path === "" ? join(ROOT, page) : join(ROOT, dirname(page), decodeURIComponent(path));
  if (!existsSync(file)) return `${page}: ${target}: ${relative(ROOT, file)} does not exist`;
  if (anchor === undefined || anchor === "") return undefined;
  if (statSync(file).isDirectory() || !file.endsWith(".md"))
    return `${page}: ${target}: an anchor into a non-Markdown file`;
  if (!anchorsOf(readFileSync(file, "utf8")).has(anchor)) {
    return `${page}: ${target}: ${relative(ROOT, file)} has no heading with the anchor #${anchor}`;
  }
  return undefined;
}

describe("links in README.md and docs/", () => {
  const links = PAGES.flatMap(linksOf);

  it("finds the links", () => {
    expect(links.length).toBeGreaterThan(50);
  });

  it("has no broken relative link or anchor", () => {
    expect(links.map(brokenLink).filter((problem) => problem !== undefined)).toEqual([]);
  });

  it("links every page of docs/ from the README", () => {
    const fromReadme = new Set(links.filter((l) => l.page === "README.md").map((l) => l.target.split("#")[0]));
    expect(PAGES.filter((p) => p !== "README.md" && !fromReadme.has(p))).toEqual([]);
  });

  it("computes GitHub's anchors, and reports a broken link", () => {
    expect(anchorOf("Streaming: errors are thrown, not yielded")).toBe("streaming-errors-are-thrown-not-yielded");
    expect(anchorOf("`clavata labels evaluate`")).toBe("clavata-labels-evaluate");
    expect(anchorOf("1. Create the job with a secret")).toBe("1-create-the-job-with-a-secret");
    expect(brokenLink({ page: "README.md", target: "docs/nope.md" })).toMatch(/does not exist/);
    expect(brokenLink({ page: "README.md", target: "docs/client.md#nope" })).toMatch(/no heading/);
    expect(brokenLink({ page: "docs/client.md", target: "errors.md#refusals" })).toBeUndefined();
  });
});
