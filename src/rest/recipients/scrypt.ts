/**
 * The scrypt passphrase recipient (age.md "The scrypt recipient type"): wrap key = scrypt(N = 2^workFactor, r = 8,
 * p = 1, S = "age-encryption.org/v1/scrypt" ‖ salt, P = passphrase), on libuv's thread pool.
 */
import { randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { toBytes } from '../../crypto/bytes.js';
import { AuthError, UsageError } from '../../errors.js';
import { encodeBase64, headerFailure, type Stanza } from '../age-header.js';
import { decodeArgument, openFileKey, sealFileKey, stanzasOfType, type Identity, type Recipient } from './recipient.js';

const TYPE = 'scrypt';
const LABEL = 'age-encryption.org/v1/scrypt';
/** age's default work factor (log2 N) when encrypting: 256 MiB and ~0.5 s. */
export const DEFAULT_WORK_FACTOR = 18;
/** The largest work factor accepted when decrypting, as the age CLI: 2^22 costs 4 GiB of memory. */
export const MAX_WORK_FACTOR = 22;

/** A passphrase, or a function that asks for it only when it is needed (a prompt). */
export type Passphrase = string | Uint8Array | (() => Promise<string | Uint8Array>);

export async function resolvePassphrase(passphrase: Passphrase): Promise<Buffer> {
  const value = typeof passphrase === 'function' ? await passphrase() : passphrase;
  if (value.length === 0) throw new UsageError('empty passphrase');
  return toBytes(value);
}

function wrapKey(passphrase: Buffer, salt: Buffer, workFactor: number): Promise<Buffer> {
  const N = 2 ** workFactor;
  return new Promise((resolve, reject) =>
    scryptCallback(passphrase, Buffer.concat([Buffer.from(LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 128 * 8 * N + 4 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export class ScryptRecipient implements Recipient {
  readonly type = TYPE;
  readonly postQuantum = true;
  readonly #passphrase: Passphrase;
  readonly workFactor: number;

  constructor(passphrase: Passphrase, workFactor = DEFAULT_WORK_FACTOR) {
    if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > MAX_WORK_FACTOR) {
      throw new UsageError(`"workFactor" expected an integer in [1, ${MAX_WORK_FACTOR}], got ${workFactor}`);
    }
    this.#passphrase = passphrase;
    this.workFactor = workFactor;
  }

  async wrap(fileKey: Buffer): Promise<Stanza[]> {
    const salt = randomBytes(16);
    const key = await wrapKey(await resolvePassphrase(this.#passphrase), salt, this.workFactor);
    return [{ type: TYPE, args: [encodeBase64(salt), String(this.workFactor)], body: sealFileKey(key, fileKey) }];
  }

  /** The stanza's shape, for a header whose length is known before the passphrase is stretched. */
  placeholder(): Stanza {
    return { type: TYPE, args: [encodeBase64(Buffer.alloc(16)), String(this.workFactor)], body: Buffer.alloc(32) };
  }
}

export class ScryptIdentity implements Identity {
  readonly type = TYPE;
  readonly #passphrase: Passphrase;
  readonly #maxWorkFactor: number;

  constructor(passphrase: Passphrase, maxWorkFactor = MAX_WORK_FACTOR) {
    this.#passphrase = passphrase;
    this.#maxWorkFactor = maxWorkFactor;
  }

  /**
   * @throws IntegrityError MALFORMED (a malformed stanza, a work factor above the limit: checked before any work),
   *   AuthError (wrong passphrase).
   */
  async unwrap(stanzas: readonly Stanza[]): Promise<Buffer | undefined> {
    const [stanza] = stanzasOfType(stanzas, TYPE, 2);
    if (stanza === undefined) return undefined;
    if (stanzas.length !== 1) throw headerFailure('a scrypt stanza must be the only stanza');
    const salt = decodeArgument(TYPE, stanza.args[0], 16, 'salt');
    const factor = stanza.args[1] ?? '';
    if (!/^[1-9][0-9]*$/.test(factor)) throw headerFailure('scrypt work factor is not a canonical decimal');
    const workFactor = Number(factor);
    if (workFactor > this.#maxWorkFactor) throw headerFailure(`scrypt work factor ${factor.slice(0, 10)} above the limit of ${this.#maxWorkFactor}`);
    if (stanza.body.length !== 32) throw headerFailure('scrypt stanza body must be 32 bytes');
    const fileKey = openFileKey(TYPE, await wrapKey(await resolvePassphrase(this.#passphrase), salt, workFactor), stanza.body);
    if (fileKey === undefined) throw new AuthError('wrong password');
    return fileKey;
  }
}
