/**
 * A whole age file, streamed: header (age-header.ts) wrapping a fresh file key for every recipient, a 16-byte
 * nonce, then the STREAM payload (crypto/stream.ts); optionally in ASCII armor (armor.ts).
 */
import { randomBytes } from 'node:crypto';
import { AuthError, UsageError } from '../errors.js';
import { StreamOpener, StreamSealer } from '../crypto/stream.js';
import { ArmorEncoder } from './armor.js';
import { encodeHeader, encodedHeaderLength, headerFailure, HeaderReader, newFileKey, PAYLOAD_NONCE_SIZE, payloadKey, verifyHeaderMac, type AgeHeader } from './age-header.js';
import { throwIfAborted, type ByteSource, type Output } from './io.js';
import type { Identity, Recipient } from './recipients/recipient.js';
import { ScryptIdentity, ScryptRecipient, type Passphrase } from './recipients/scrypt.js';

export interface AgeEncryptOptions {
  armor?: boolean;
  signal?: AbortSignal;
}

/**
 * Encrypts `source` to `output` as an age file for `recipients`. A passphrase (scrypt) recipient must be the only
 * one. When the output is a file and not armored, the payload is written first behind a placeholder header of the
 * same length while scrypt runs on the thread pool, and the header is written over it at the end.
 */
export async function encryptAge(source: AsyncIterable<Buffer>, output: Output, recipients: readonly Recipient[], options: AgeEncryptOptions = {}): Promise<void> {
  if (recipients.length === 0) throw new UsageError('no recipients');
  if (recipients.length > 1 && recipients.some((r) => r.type === 'scrypt')) throw new UsageError('a passphrase cannot be combined with other recipients');
  const fileKey = newFileKey();
  const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
  const armor = options.armor === true ? new ArmorEncoder() : undefined;
  const emit = (chunks: Buffer[]) => output.write(armor === undefined ? chunks : chunks.flatMap((c) => armor.push(c)));
  const [only] = recipients;
  const late = only instanceof ScryptRecipient && armor === undefined && output.writeAt !== undefined ? only : undefined;
  let header: Promise<Buffer>;
  if (late !== undefined) {
    header = late.wrap(fileKey).then((stanzas) => encodeHeader(stanzas, fileKey));
    header.catch(() => undefined);
    await emit([Buffer.alloc(encodedHeaderLength([late.placeholder()])), nonce]);
  } else {
    const stanzas = (await Promise.all(recipients.map((r) => r.wrap(fileKey)))).flat();
    header = Promise.resolve(encodeHeader(stanzas, fileKey));
    await emit([await header, nonce]);
  }
  const sealer = new StreamSealer('chacha20-poly1305', payloadKey(fileKey, nonce));
  for await (const chunk of source) {
    throwIfAborted(options.signal);
    await emit(sealer.push(chunk));
  }
  await emit(sealer.end());
  if (armor !== undefined) await output.write(armor.end());
  if (late !== undefined) await output.writeAt?.(await header, 0);
  await output.flush();
}

export interface AgeKeys {
  identities: readonly Identity[];
  /** For a passphrase-encrypted file; asked for only when the header has a scrypt stanza. */
  password?: Passphrase;
  /** Highest scrypt work factor accepted (default 22). */
  maxWorkFactor?: number;
}

/**
 * The file key: the first identity that opens a stanza, then the header MAC checked with it.
 * @throws IntegrityError MALFORMED (a scrypt stanza beside others, a malformed stanza), AuthError (no identity
 *   matched, wrong passphrase), IntegrityError TAMPERED (header MAC), UsageError (a passphrase file and no
 *   passphrase, or a key file and no identity).
 */
export async function unwrapFileKey(header: AgeHeader, keys: AgeKeys): Promise<Buffer> {
  const types = [...new Set(header.stanzas.map((s) => s.type))];
  let identities = keys.identities;
  if (types.includes('scrypt')) {
    if (header.stanzas.length !== 1) throw headerFailure('a scrypt stanza must be the only stanza');
    if (keys.password === undefined) throw new UsageError('this file is encrypted with a passphrase, not to a key: decrypt it with the passphrase');
    identities = [new ScryptIdentity(keys.password, keys.maxWorkFactor)];
  } else if (identities.length === 0) {
    const message = `this file is encrypted to keys (${types.slice(0, 4).join(', ')}), not with a passphrase: give an identity`;
    throw keys.password === undefined ? new UsageError(message) : new AuthError(message);
  }
  for (const identity of identities) {
    const fileKey = await identity.unwrap(header.stanzas);
    if (fileKey !== undefined) {
      verifyHeaderMac(fileKey, header);
      return fileKey;
    }
  }
  throw new AuthError('no identity matched: the file was encrypted to other keys');
}

export interface AgeDecryptOptions {
  signal?: AbortSignal;
}

/**
 * Decrypts an age file (binary; armor is undone before) from `source` to `output`. Plaintext is written chunk by
 * chunk as each one authenticates; a failure after some were written throws, and the caller discards the output.
 * @returns the plaintext size.
 * @throws as unwrapFileKey, and IntegrityError MALFORMED (header), TAMPERED or TRUNCATED (payload).
 */
export async function decryptAge(source: ByteSource, output: Output, keys: AgeKeys, options: AgeDecryptOptions = {}): Promise<number> {
  const reader = new HeaderReader();
  let found: ReturnType<HeaderReader['push']>;
  do {
    const chunk = await source.next();
    if (chunk === undefined) throw headerFailure('truncated');
    found = reader.push(chunk);
  } while (found === undefined);
  source.unshift(found.rest);
  const nonce = await source.read(PAYLOAD_NONCE_SIZE);
  if (nonce.length !== PAYLOAD_NONCE_SIZE) throw headerFailure('payload nonce missing or short');
  const fileKey = await unwrapFileKey(found.header, keys);
  const opener = new StreamOpener('chacha20-poly1305', payloadKey(fileKey, nonce));
  let size = 0;
  const released: Buffer[] = [];
  const release = (plaintext: Buffer) => {
    released.push(plaintext);
    size += plaintext.length;
  };
  for await (const chunk of source.rest()) {
    throwIfAborted(options.signal);
    try {
      opener.push(chunk, release);
    } catch (error) {
      // What authenticated before the failure is released too, as age.md's streaming decryption does.
      await output.write(released.splice(0)).catch(() => undefined);
      throw error;
    }
    await output.write(released.splice(0));
  }
  release(opener.end());
  await output.write(released.splice(0));
  await output.flush();
  return size;
}
