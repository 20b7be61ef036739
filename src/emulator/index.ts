// The public surface of clavata-connect/emulator: a local stand-in for the Clavata gateway.

export { startEmulator, type Emulator, type EmulatorOptions } from "./server.js";
export { type EmulatorMethod, type FaultInjector, type FaultRule } from "./faults.js";
export { type RateLimit } from "./rate-limit.js";
export { type WebhookDelivery, type WebhookDispatcherOptions } from "./webhook-dispatcher.js";
export { PolicyEngine, type ContentVerdict, type PolicyEngineOptions } from "./engine.js";
export {
  parsePolicies,
  loadPolicyFile,
  PolicyFileError,
  type Policy,
  type PolicySection,
  type PolicyAssertion,
  type PolicyFileJson,
} from "./policy.js";
export {
  SAMPLE_POLICIES,
  SAMPLE_POLICY_IDS,
  SAMPLE_LABEL_VERSION_IDS,
  samplePoliciesJson,
  sampleKnownImage,
} from "./sample-policies.js";
export { contentHash } from "./content-hash.js";
export { inspectImage, makePng, type ImageFormat, type ImageInspection } from "./image.js";
