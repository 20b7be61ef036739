// The public surface of clavata-connect/webhooks: attaching a webhook to a job (sending side), and receiving the
// gateway's call when the job completes (verifying the shared secret, parsing the job, adapters for servers).

// Sending side: a webhook on a CreateJob request.
export {
  WEBHOOK_HEADER_PREFIX,
  addWebhook,
  createWebhook,
  type CreateJobRequestInit,
  type WebhookInit,
} from "./request.js";
export {
  DEFAULT_SECRET_HEADER,
  generateWebhookSecret,
  webhookHeaderName,
  webhookWithSecret,
  type WebhookWithSecret,
} from "./secret.js";

// Receiving side: checks and parsing, for any server.
export { WebhookVerificationError, type WebhookVerificationReason } from "./verification-error.js";
export {
  verifyWebhook,
  verifyWebhookSecret,
  type WebhookHandlerOptions,
  type WebhookHeaders,
  type WebhookRequestParts,
  type WebhookVerifyOptions,
} from "./receiver.js";
export { DEFAULT_MAX_BODY_BYTES, checkWebhookContentType, parseWebhookJob } from "./payload.js";

// Receiving side: adapters.
export { createNodeWebhookHandler } from "./node-handler.js";
export { createFetchWebhookHandler } from "./fetch-handler.js";
export {
  createWebhookMiddleware,
  type FastifyReplyLike,
  type WebhookMiddlewareRequest,
  type WebhookMiddlewareResponse,
} from "./middleware.js";

// Testing your own receiver.
export { createTestWebhookRequest, type TestWebhookRequest, type TestWebhookRequestOptions } from "./testing.js";
