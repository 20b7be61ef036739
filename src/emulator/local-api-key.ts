// The API key that local tools send to an emulator that accepts any key (open mode): the CLI's --emulator, the
// demo, and the emulator's own start-up hint. It is public, so it must never be a real key, and distinctive and at
// least 16 characters long, so that redaction replaces it as a whole token without mangling ordinary words.

/** The API key the CLI's `--emulator` and the demo send to the in-process emulator; public, never a real key. */
export const EMULATOR_LOCAL_API_KEY = "clavata-emulator-local-key";
