// The public surface of clavata-connect/webhooks: attaching a webhook to a job (sending side), and receiving the
// gateway's call when the job completes (verifying the shared secret, parsing the job, adapters for servers).

export { createFetchWebhookHandler } from "./fetch-handler.js";
export {
  createWebhookMiddleware,
  type FastifyReplyLike,
  type WebhookMiddlewareRequest,
  type WebhookMiddlewareResponse,
} from "./middleware.js";
// Receiving side: adapters.
export { createNodeWebhookHandler, type NodeResponseLike } from "./node-handler.js";
export { checkWebhookContentType, DEFAULT_MAX_BODY_BYTES, parseWebhookJob } from "./payload.js";
export {
  verifyWebhook,
  verifyWebhookSecret,
  type WebhookHandlerOptions,
  type WebhookHeaders,
  type WebhookHeaderValue,
  type WebhookRequestParts,
  type WebhookVerifyOptions,
} from "./receiver.js";
// Sending side: a webhook on a CreateJob request.
export {
  addWebhook,
  type CreateJobRequestInit,
  createWebhook,
  WEBHOOK_HEADER_PREFIX,
  type WebhookInit,
} from "./request.js";
export {
  DEFAULT_SECRET_HEADER,
  generateWebhookSecret,
  type WebhookWithSecret,
  webhookHeaderName,
  webhookWithSecret,
} from "./secret.js";
// Testing your own receiver.
export { createTestWebhookRequest, type TestWebhookRequest, type TestWebhookRequestOptions } from "./testing.js";
// Receiving side: checks and parsing, for any server.
export { WebhookVerificationError, type WebhookVerificationReason } from "./verification-error.js";
