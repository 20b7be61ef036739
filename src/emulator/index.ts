// The public surface of clavata-connect/emulator: a local stand-in for the Clavata gateway.

export { contentHash } from "../content-hash.js";
export { type ContentVerdict, PolicyEngine, type PolicyEngineOptions } from "./engine.js";
export type { EmulatorMethod, FaultInjector, FaultRule, RandomFault } from "./faults.js";
export { type ImageFormat, type ImageInspection, inspectImage, makePng } from "./image.js";
export {
  loadPolicyFile,
  type Policy,
  type PolicyAssertion,
  PolicyFileError,
  type PolicyFileJson,
  type PolicySection,
  parsePolicies,
} from "./policy.js";
export type { RateLimit } from "./rate-limit.js";
export {
  SAMPLE_LABEL_VERSION_IDS,
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  sampleKnownImage,
  samplePoliciesJson,
} from "./sample-policies.js";
export { type Emulator, type EmulatorOptions, startEmulator } from "./server.js";
export type { WebhookDelivery, WebhookDispatcherOptions } from "./webhook-dispatcher.js";
