// A user's CommonJS module: the same entry points through require, type-checked the same way.
import clavata = require("clavata-connect");
import emulator = require("clavata-connect/emulator");
import webhooks = require("clavata-connect/webhooks");

export function build(url: string): InstanceType<typeof clavata.ClavataClient> {
  return new clavata.ClavataClient({ apiKey: "consumer-type-check-key-0123456789", baseUrl: url, insecure: true });
}
export const start: typeof emulator.startEmulator = emulator.startEmulator;
export const secret: string = webhooks.generateWebhookSecret();
