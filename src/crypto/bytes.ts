import { timingSafeEqual } from 'node:crypto';

/** Constant-time equality for secrets (MACs, confirmation tags). Different lengths compare unequal. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function toBytes(data: string | Uint8Array): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** 8-byte big-endian unsigned integer (up to 2^53 - 1). */
export function u64be(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

/** The total length of `pieces` (a body or plaintext kept in the pieces it arrived in). */
export function byteLength(pieces: readonly Uint8Array[]): number {
  return pieces.reduce((total, piece) => total + piece.length, 0);
}
