// A user's ESM module: every entry point, type-checked with lib ES2022 and skipLibCheck off.
import { ClavataClient, type EvaluateResponse, InvalidRequestError, Outcome, textContent } from "clavata-connect";
import { type Emulator, startEmulator } from "clavata-connect/emulator";
import { createNodeWebhookHandler, verifyWebhook } from "clavata-connect/webhooks";

export async function moderate(emulator: Emulator): Promise<boolean> {
  const client = new ClavataClient({
    apiKey: "consumer-type-check-key-0123456789",
    baseUrl: emulator.url,
    insecure: true,
  });
  try {
    const result: EvaluateResponse = await client.evaluateOne({
      policyId: "policy-violence",
      contentData: textContent("hello"),
    });
    return result.policyEvaluationReport?.reviewResult?.outcome === Outcome.TRUE;
  } catch (error) {
    if (error instanceof InvalidRequestError) return false;
    throw error;
  } finally {
    await client.close();
  }
}

export const start = startEmulator;
export const handler = createNodeWebhookHandler({ secret: "s".repeat(32), onJob: async () => {} });
export const verify = verifyWebhook;
