/** Bech32 (BIP 173) as age.md uses it: no length limit, all upper or all lower case. Through @scure/base. */
import { bech32 } from '@scure/base';
import { UsageError } from '../../errors.js';

/** The bytes of `text` if it is Bech32 with human-readable part `prefix` (compared case-insensitively). */
export function decodeBech32(text: string, prefix: string, what: string): Buffer {
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32.decode(text as `${string}1${string}`, false);
  } catch (error) {
    throw new UsageError(`malformed ${what}: ${(error as Error).message}`);
  }
  if (decoded.prefix.toLowerCase() !== prefix.toLowerCase()) throw new UsageError(`malformed ${what}: expected the prefix ${prefix}1`);
  return Buffer.from(bech32.fromWords(decoded.words));
}

export function encodeBech32(prefix: string, bytes: Uint8Array, upper = false): string {
  const text = bech32.encode(prefix.toLowerCase(), bech32.toWords(bytes), false);
  return upper ? text.toUpperCase() : text;
}
