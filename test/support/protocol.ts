// Which protocol the shared behaviour tests run over. test/client/emulator.test.ts runs over gRPC; its REST twin
// (emulator-rest.test.ts) sets "rest" and then imports it, so both run the very same tests with the same
// expectations.

import type { Emulator } from "../../src/emulator/index.js";

let current: "grpc" | "rest" = "grpc";

/** Sets the protocol of the tests defined after this call (in the importing file). */
export function useTestProtocol(protocol: "grpc" | "rest"): void {
  current = protocol;
}

/** The protocol the tests being defined run over. */
export function testProtocol(): "grpc" | "rest" {
  return current;
}

/** The emulator's base URL for the protocol under test. */
export function emulatorUrl(emu: Emulator): string {
  if (current === "grpc") return emu.url;
  if (emu.restUrl === undefined) throw new Error("start the emulator with restPort to test over REST");
  return emu.restUrl;
}
