/**
 * CPace, draft-irtf-cfrg-cpace-21, suite CPACE-RISTR255-SHA512: ristretto255 from @noble/curves, SHA-512 from
 * node:crypto. Section numbers below are the draft's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { AuthError } from '../errors.js';

type Point = InstanceType<typeof ristretto255.Point>;

const Point = ristretto255.Point;
const deriveToCurve: (uniformBytes: Uint8Array) => Point = (() => {
  const derive = ristretto255_hasher.deriveToCurve?.bind(ristretto255_hasher);
  if (derive === undefined) throw new Error('@noble/curves lacks ristretto255 deriveToCurve (RFC 9496 §4.3.4)');
  return derive;
})();
const ORDER = Point.Fn.ORDER;
/** §7.2: G.DSI for ristretto255. */
export const DSI = Buffer.from('CPaceRistretto255');
/** §7.2: DSI for the ISK derivation. */
export const DSI_ISK = Buffer.from('CPaceRistretto255_ISK');
/** SHA-512's input block size, H.s_in_bytes. */
const S_IN_BYTES = 128;

function sha512(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** §A.1: LEB128 length, then the data. */
export function prependLen(data: Uint8Array): Buffer {
  const length: number[] = [];
  let n = data.length;
  do {
    length.push((n & 0x7f) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.concat([Buffer.from(length), data]);
}

/** §A.2: concatenation of length-prefixed fields. */
export function lvCat(...args: Uint8Array[]): Buffer {
  return Buffer.concat(args.map(prependLen));
}

/** §A.3: "oc" followed by the lexicographically larger string first. */
export function oCat(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('oc'), ...(Buffer.compare(a, b) > 0 ? [a, b] : [b, a])]);
}

/** §7.1: generator_string(DSI, PRS, CI, sid, s_in_bytes), zero-padded so PRS fills the first hash block. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Buffer {
  const zpadLength = Math.max(0, S_IN_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, Buffer.alloc(zpadLength), ci, sid);
}

/** §7.2: g = element_derivation(SHA-512(generator_string)), RFC 9496 §4.3.4; returned encoded. */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  return deriveToCurve(sha512(generatorString(prs, ci, sid))).toBytes();
}

/** A uniformly random nonzero scalar (64 random bytes reduced mod the group order). */
export function sampleScalar(): bigint {
  for (;;) {
    const y = bytesToScalar(randomBytes(64));
    if (y !== 0n) return y;
  }
}

/** Little-endian bytes to a scalar mod the group order, as the draft's test vectors encode ya and yb. */
export function bytesToScalar(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n % ORDER;
}

/** Y = y·g, with g and Y encoded. */
export function scalarMult(y: bigint, g: Uint8Array): Uint8Array {
  return Point.fromBytes(g).multiply(y).toBytes();
}

/**
 * §7.2 scalar_mult_vfy: decode X, compute y·X; abort if X is not a valid encoding or the result is the identity.
 * @throws AuthError on an invalid or low-order peer element: the session must abort.
 */
export function scalarMultVfy(y: bigint, encoded: Uint8Array): Uint8Array {
  let X: Point;
  try {
    X = Point.fromBytes(encoded);
  } catch {
    throw new AuthError('peer sent an invalid group element');
  }
  const K = X.multiply(y);
  if (K.equals(Point.ZERO)) throw new AuthError('peer sent the identity element');
  return K.toBytes();
}

/** §6.3 initiator-responder transcript: lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb). */
export function transcriptIr(Ya: Uint8Array, ADa: Uint8Array, Yb: Uint8Array, ADb: Uint8Array): Buffer {
  return Buffer.concat([lvCat(Ya, ADa), lvCat(Yb, ADb)]);
}

/** §6.3 symmetric transcript: o_cat(lv_cat(Ya, ADa), lv_cat(Yb, ADb)). */
export function transcriptOc(Ya: Uint8Array, ADa: Uint8Array, Yb: Uint8Array, ADb: Uint8Array): Buffer {
  return oCat(lvCat(Ya, ADa), lvCat(Yb, ADb));
}

/** §6.4: ISK = SHA-512(lv_cat(DSI_ISK, sid, K) ‖ transcript). */
export function deriveIsk(sid: Uint8Array, K: Uint8Array, transcript: Uint8Array): Buffer {
  return sha512(lvCat(DSI_ISK, sid, K), transcript);
}

/** §9.6 optional session-id output for the initiator-responder setting. */
export function sidOutputIr(transcript: Uint8Array): Buffer {
  return sha512(Buffer.from('CPaceSidOutput'), transcript);
}

/** One party's CPace state: its secret scalar and public share, for a given PRS, CI and sid. */
export interface CpaceShare {
  y: bigint;
  Y: Uint8Array;
}

/** Computes g from (PRS, CI, sid) and a fresh share Y = y·g. `y` is injectable for test vectors. */
export function cpaceShare(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array, y: bigint = sampleScalar()): CpaceShare {
  return { y, Y: scalarMult(y, calculateGenerator(prs, ci, sid)) };
}
