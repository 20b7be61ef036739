// The public surface of clavata-connect/emulator: a local stand-in for the Clavata gateway.

export { contentHash } from "../content-hash.js";
export {
  type ContentVerdict,
  type LabelVerdict,
  PolicyEngine,
  type PolicyEngineOptions,
} from "./engine.js";
export type { EmulatorMethod, FaultInjector, FaultRule, RandomFault } from "./faults.js";
export { type ImageFormat, type ImageInspection, inspectImage, type MakePngOptions, makePng } from "./image.js";
export { EMULATOR_LOCAL_API_KEY } from "./local-api-key.js";
export {
  type ImageMatcher,
  type ImageMatcherJson,
  type KeywordsMatcher,
  loadPolicyFile,
  type Policy,
  type PolicyAssertion,
  type PolicyAssertionJson,
  PolicyFileError,
  type PolicyFileJson,
  type PolicyJson,
  type PolicyMatcher,
  type PolicySection,
  type PolicySectionJson,
  parsePolicies,
  type RegexMatcher,
  type TextMatcher,
} from "./policy.js";
export type { PreparedContent } from "./prepared-content.js";
export type { RateLimit } from "./rate-limit.js";
export type { BatchUpload, BatchWebhookDelivery } from "./rest/batch-jobs.js";
export {
  SAMPLE_LABEL_VERSION_IDS,
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  sampleKnownImage,
  samplePoliciesJson,
} from "./sample-policies.js";
export { type Emulator, type EmulatorOptions, startEmulator } from "./server.js";
export type { WebhookDelivery, WebhookDispatcherOptions } from "./webhook-dispatcher.js";
