// A Cloudflare Worker that moderates the text it is sent, over the gateway's REST/JSON surface (Workers have fetch
// but no HTTP/2 client, so gRPC is not an option there). `clavata-connect` resolves to its edge build under the
// `workerd` condition, which loads no node: module.
//
//   POST / with {"policyId": "…", "texts": ["…", "…"]}  →  [{"text", "outcome", "score"}]
//
// Bindings: CLAVATA_API_KEY (a secret), and optionally CLAVATA_BASE_URL (a local emulator's REST URL in tests).
import { ClavataClient, ClavataError, Outcome, textContent } from "clavata-connect";

interface Env {
  CLAVATA_API_KEY: string;
  CLAVATA_BASE_URL?: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (request.method !== "POST") return new Response("POST {policyId, texts}", { status: 405 });
    const { policyId, texts } = (await request.json()) as { policyId: string; texts: string[] };
    const baseUrl = env.CLAVATA_BASE_URL;
    // One client per request: a Worker keeps no connection between requests worth sharing.
    await using client = new ClavataClient({
      protocol: "rest",
      apiKey: env.CLAVATA_API_KEY,
      ...(baseUrl ? { baseUrl, insecure: baseUrl.startsWith("http://") } : {}),
    });
    try {
      const verdicts: { text: string; outcome: string; score: number }[] = [];
      const contentData = texts.map((text, i) => textContent(text, { metadata: { i: String(i) } }));
      // Results arrive in no set order; the metadata says which text each one is.
      for await (const result of client.evaluate({ policyId, contentData })) {
        const report = result.policyEvaluationReport;
        const text = texts[Number(report?.contentMetadata.i)] ?? "";
        const review = report?.reviewResult;
        verdicts.push({ text, outcome: Outcome[review?.outcome ?? Outcome.UNSPECIFIED], score: review?.score ?? 0 });
      }
      return Response.json(verdicts);
    } catch (error) {
      if (error instanceof ClavataError) {
        return Response.json({ error: error.name, code: error.codeName, message: error.message }, { status: 502 });
      }
      throw error;
    }
  },
};
