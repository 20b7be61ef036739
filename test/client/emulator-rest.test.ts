// The behaviour tests of emulator.test.ts (every method, paging, refusals, error classes, retries, timeouts,
// aborts, webhooks), run over the REST protocol against the emulator's REST port, with the same expectations. The
// tests of what only gRPC has (RST_STREAM, GOAWAY, one HTTP/2 session, TLS options) are skipped here; REST's own
// are in test/transport/rest/.
import { useTestProtocol } from "../support/protocol.js";

useTestProtocol("rest");
await import("./emulator.test.js");
