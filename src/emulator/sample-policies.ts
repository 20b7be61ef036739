// The emulator's built-in policies: small, realistic examples of every kind
// of matcher and exception, served when no policy file is given and used by
// the demo and the tests.

import { makePng } from "./image.js";
import { type Policy, type PolicyFileJson, parsePolicies } from "./policy.js";

/** The ids of the sample policies. */
export const SAMPLE_POLICY_IDS = {
  violence: "policy-violence",
  spam: "policy-spam",
  harassment: "policy-harassment",
  images: "policy-images",
} as const;

/** The label version ids of the sample policies' sections, for EvaluateLabels. */
export const SAMPLE_LABEL_VERSION_IDS = {
  threats: "label-threats-v1",
  weapons: "label-weapons-v1",
  commercialSpam: "label-commercial-spam-v1",
  links: "label-links-v1",
  insults: "label-insults-v1",
  personalInformation: "label-personal-information-v1",
  webpImages: "label-webp-images-v1",
  largeImages: "label-large-images-v1",
  knownImages: "label-known-images-v1",
} as const;

/**
 * The "known image" that the sample Images policy blocks by its content hash: a 16×16 crimson PNG
 * (`makePng(16, 16, { color: [220, 20, 60] })`). Send it to see a contentHashes match.
 */
export function sampleKnownImage(): Uint8Array {
  return makePng(16, 16, { color: [220, 20, 60] });
}

/**
 * The content hash of {@link sampleKnownImage}, which the sample "Known images" label lists. Written out
 * (rather than computed) so that the samples stay plain JSON; a test checks it.
 */
export const SAMPLE_KNOWN_IMAGE_HASH = "fnv1a128::ccfcf8d8fdbf328471f1a61acd072671";

const ids = SAMPLE_POLICY_IDS;
const labels = SAMPLE_LABEL_VERSION_IDS;

/** The sample policies in the policy file format. Kept private so callers cannot change the samples. */
const SAMPLE_FILE: PolicyFileJson = {
  policies: [
    {
      id: ids.violence,
      key: "Violence",
      versionId: "v1",
      sections: [
        {
          name: "Threats",
          message: "BLOCK",
          labelId: "label-threats",
          labelVersionId: labels.threats,
          assertions: [
            {
              description: "Threatens to kill or hurt someone",
              score: 0.9,
              keywords: ["kill you", "hurt you", "you're dead", "you are dead"],
            },
            {
              description: "States an intent to hurt or kill",
              score: 0.95,
              regex: "\\bi(?: will|'ll| am going to|'m going to|'m gonna) (?:hurt|kill|shoot|stab)\\b",
              flags: "i",
            },
          ],
          unless: [
            {
              description: "The threat is part of fiction or a game",
              score: 0.8,
              keywords: ["in the movie", "in my novel", "in the game", "the character"],
            },
          ],
        },
        {
          name: "Weapons",
          message: "REVIEW",
          labelId: "label-weapons",
          labelVersionId: labels.weapons,
          assertions: [
            {
              description: "Mentions a firearm or ammunition",
              score: 0.6,
              keywords: ["gun", "guns", "rifle", "pistol", "ammo", "ammunition"],
            },
            {
              description: "Asks how to make a bomb or explosive",
              score: 0.95,
              regex: "\\b(?:build|make|making|building) (?:a |an )?(?:pipe )?(?:bomb|explosive)s?\\b",
              flags: "i",
            },
          ],
        },
      ],
      unless: [
        {
          description: "The content is a news report about violence",
          score: 0.9,
          keywords: ["news report", "breaking news", "according to police"],
        },
      ],
    },
    {
      id: ids.spam,
      key: "Spam",
      versionId: "v1",
      multiplier: 1.5,
      sections: [
        {
          name: "Commercial spam",
          message: "BLOCK",
          labelId: "label-commercial-spam",
          labelVersionId: labels.commercialSpam,
          assertions: [
            {
              description: "Pushes a hard sell",
              score: 0.85,
              regex: "\\b(?:buy now|free money|act now|limited time offer)\\b",
              flags: "i",
            },
            { description: "Uses spam phrases", score: 0.7, keywords: ["click here", "100% free", "risk-free", "$$$"] },
          ],
        },
        {
          name: "Links",
          message: "REVIEW",
          labelId: "label-links",
          labelVersionId: labels.links,
          assertions: [
            { description: "Contains a link", score: 0.55, regex: "\\bhttps?://\\S+|\\bwww\\.\\S+\\.\\S+", flags: "i" },
          ],
        },
      ],
    },
    {
      id: ids.harassment,
      key: "Harassment",
      versionId: "v1",
      sections: [
        {
          name: "Insults",
          message: "WARN",
          labelId: "label-insults",
          labelVersionId: labels.insults,
          assertions: [
            { description: "Calls someone a name", score: 0.7, keywords: ["idiot", "loser", "moron", "pathetic"] },
            {
              description: "Tells someone they are unwanted",
              score: 0.9,
              keywords: ["nobody likes you", "everyone hates you"],
            },
          ],
          unless: [
            {
              description: "The speaker is talking about themselves",
              score: 0.8,
              regex: "\\bi(?:'m| am) (?:such )?(?:an? )?(?:idiot|loser|moron)\\b",
              flags: "i",
            },
          ],
        },
        {
          name: "Personal information",
          message: "BLOCK",
          labelId: "label-personal-information",
          labelVersionId: labels.personalInformation,
          assertions: [
            { description: "Shares where someone lives", score: 0.8, keywords: ["home address", "lives at"] },
            { description: "Contains a phone number", score: 0.6, regex: "\\b\\d{3}[-. ]\\d{3}[-. ]\\d{4}\\b" },
          ],
        },
      ],
    },
    {
      id: ids.images,
      key: "Images",
      versionId: "v1",
      sections: [
        {
          name: "WebP images",
          message: "REVIEW",
          labelId: "label-webp-images",
          labelVersionId: labels.webpImages,
          assertions: [{ description: "Is a WebP image", score: 0.6, image: { formats: ["webp"] } }],
        },
        {
          name: "Large images",
          message: "REVIEW",
          labelId: "label-large-images",
          labelVersionId: labels.largeImages,
          assertions: [
            { description: "Is at least 1000 by 1000 pixels", score: 0.7, image: { minWidth: 1000, minHeight: 1000 } },
            { description: "Is larger than 5 MiB", score: 0.8, image: { minBytes: 5 * 1024 * 1024 + 1 } },
          ],
        },
        {
          name: "Known images",
          message: "BLOCK",
          labelId: "label-known-images",
          labelVersionId: labels.knownImages,
          assertions: [
            {
              description: "Is a known prohibited image",
              score: 1,
              image: { contentHashes: [SAMPLE_KNOWN_IMAGE_HASH] },
            },
          ],
        },
      ],
    },
  ],
};

/**
 * The sample policies: Violence (policy-violence), Spam (policy-spam, multiplier 1.5), Harassment
 * (policy-harassment) and Images (policy-images). Validated through {@link parsePolicies} like any file.
 */
export const SAMPLE_POLICIES: readonly Policy[] = Object.freeze(parsePolicies(SAMPLE_FILE, "sample policies"));

/**
 * The sample policies as the JSON text of a policy file (two-space indented, short lists and objects on one
 * line, with a final newline): a starting point for your own file.
 */
export function samplePoliciesJson(): string {
  return `${formatJson(SAMPLE_FILE, "")}\n`;
}

// JSON.stringify(_, null, 2) puts every keyword on its own line; this keeps short things on one line so the
// file reads like a policy.
function formatJson(value: unknown, indent: string): string {
  const flat = (v: unknown): boolean =>
    v === null || typeof v !== "object" || (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object"));
  const simple = flat(value) || (!Array.isArray(value) && Object.values(value as object).every(flat));
  if (simple) {
    const line = oneLine(value);
    if (indent.length + line.length <= 110) return line;
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + formatJson(v, inner)).join(",\n")}\n${indent}]`;
  const entries = Object.entries(value as object).map(
    ([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`,
  );
  return `{\n${entries.join(",\n")}\n${indent}}`;
}

function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${oneLine(v)}`)
      .join(", ")} }`;
  }
  return JSON.stringify(value);
}
