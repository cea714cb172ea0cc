import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decrypt } from '../../src/rest/files.js';
import { SftError } from '../../src/errors.js';
import { cctvNames, readCctv, type CctvVector } from './cctv.js';
import { randomSplit } from '../helpers.js';

type Outcome = CctvVector['expect'];

/**
 * The CCTV outcome an error stands for (README "expect"). As in the reference testkit, the vector's `armored` flag
 * says whether a malformed input that is not a malformed header is an armor failure.
 */
function outcomeOf(error: SftError, armored: boolean): Outcome {
  if (error.code === 'AUTH_FAILED') return 'no match';
  if (error.code === 'TAMPERED' && error.message.startsWith('age header mac')) return 'HMAC failure';
  if (error.code === 'MALFORMED') return armored && !error.message.startsWith('age header') ? 'armor failure' : 'header failure';
  return 'payload failure';
}

/** Decrypts a vector through the library's stream API, the file fed in `pieces`; returns the outcome and all plaintext released. */
async function run(v: CctvVector, pieces: Buffer[]): Promise<{ outcome: Outcome; released: Buffer; error?: SftError }> {
  const released: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (released.push(chunk), done()) });
  const result = (outcome: Outcome, error?: SftError) => ({ outcome, released: Buffer.concat(released), ...(error ? { error } : {}) });
  try {
    await decrypt(Readable.from(pieces, { objectMode: false }), sink, {
      identities: v.identities,
      ...(v.passphrases[0] === undefined ? {} : { password: v.passphrases[0] }),
    });
  } catch (error) {
    if (!(error instanceof SftError)) throw error;
    return result(outcomeOf(error, v.armored), error);
  }
  return result('success');
}

const vectors = cctvNames().map(readCctv);

describe('CCTV age suite: every case, through decrypt()', () => {
  it('has every family, none left out', () => {
    const families = ['armor', 'hmac', 'header', 'hybrid', 'scrypt', 'stanza', 'stream', 'x25519'];
    for (const family of families) expect(vectors.filter((v) => v.name.startsWith(family)).length, family).toBeGreaterThan(0);
    expect(vectors.length).toBe(143);
  });

  const splits: [string, (file: Buffer) => Buffer[]][] = [
    ['whole', (f) => [f]],
    ['random split', (f) => randomSplit(f, f.length + 7)],
    ['byte by byte (files up to 200 KiB)', (f) => (f.length <= 200 * 1024 ? [...f].map((b) => Buffer.of(b)) : [f])],
  ];
  for (const v of vectors) {
    it(`${v.name}: ${v.expect}`, async () => {
      for (const [label, split] of splits) {
        const { outcome, released, error } = await run(v, split(v.file));
        expect(outcome, `${label}: ${error?.message ?? ''}`).toBe(v.expect);
        if (v.payload !== undefined) expect(createHash('sha256').update(released).digest('hex'), label).toBe(v.payload);
        if (v.expect !== 'success') expect(released.length === 0 || v.expect === 'payload failure', label).toBe(true);
      }
    });
  }
});
