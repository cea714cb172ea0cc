/** Cipher suite identifiers on the wire (docs/PROTOCOL.md §3.2); apart from messages.ts so the CLI can list them cheaply. */
export const SUITES = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 } as const;
export type Suite = keyof typeof SUITES;
export const SUITE_NAMES = Object.keys(SUITES) as Suite[];

export function suiteName(id: number): Suite | undefined {
  return SUITE_NAMES.find((name) => SUITES[name] === id);
}
