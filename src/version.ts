/**
 * The version of this SDK, sent to the gateway in `x-clavata-client` and
 * `user-agent`. Kept equal to `version` in package.json (a test checks it).
 */
export const VERSION = "0.1.0";
