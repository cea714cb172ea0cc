/**
 * A whole age file, streamed: header (age-header.ts) wrapping a fresh file key for every recipient, a 16-byte
 * nonce, then the STREAM payload (crypto/stream.ts); optionally in ASCII armor (armor.ts).
 */
import { randomBytes } from 'node:crypto';
import { AuthError, SftError, UsageError } from '../errors.js';
import { aeadSeal, CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, StreamOpener, streamNonce } from '../crypto/stream.js';
import { ArmorEncoder } from './armor.js';
import { encodeHeader, encodedHeaderLength, headerFailure, HeaderReader, newFileKey, PAYLOAD_NONCE_SIZE, payloadKey, verifyHeaderMac, type AgeHeader } from './age-header.js';
import { CHUNKS_PER_BATCH, type Batches } from './batches.js';
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
export const PLAINTEXT_BATCH = CHUNKS_PER_BATCH * CHUNK_SIZE;
export const CIPHERTEXT_BATCH = CHUNKS_PER_BATCH * ENCRYPTED_CHUNK_SIZE;

export async function encryptAge(source: Batches, output: Output, recipients: readonly Recipient[], options: AgeEncryptOptions = {}): Promise<void> {
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
  await sealPayload(source, payloadKey(fileKey, nonce), emit, options.signal);
  if (armor !== undefined) await output.write(armor.end());
  if (late !== undefined) await output.writeAt?.(await header, 0);
  await output.flush();
}

/**
 * The STREAM payload (age.md "Payload"): each batch's whole chunks sealed in order, the last chunk of the last batch
 * flagged final; an empty input is one empty final chunk.
 */
async function sealPayload(source: Batches, key: Buffer, emit: (chunks: Buffer[]) => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  let counter = 0;
  for (;;) {
    throwIfAborted(signal);
    const { data, last } = await source.next();
    if (last && data.length === 0 && counter > 0) throw new SftError('IO', 'the input shrank while it was being read');
    const sealed: Buffer[] = [];
    for (let offset = 0; offset < data.length || (offset === 0 && last); offset += CHUNK_SIZE) {
      const end = Math.min(offset + CHUNK_SIZE, data.length);
      sealed.push(...aeadSeal('chacha20-poly1305', key, streamNonce(counter++, last && end === data.length), data.subarray(offset, end)));
    }
    // The batch's buffer is read into again on the next call: everything in it was sealed into new buffers above.
    await emit(sealed);
    if (last) return;
  }
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
export async function decryptAge(source: ByteSource, payload: (offset: number) => Batches, output: Output, keys: AgeKeys, options: AgeDecryptOptions = {}): Promise<number> {
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
  // Batches hold whole sealed chunks, so the opener keeps no reference into a batch's buffer once push() returns,
  // but for the short final chunk of the last batch, which end() opens at once.
  const batches = payload(found.header.length + PAYLOAD_NONCE_SIZE);
  for (let last = false; !last; ) {
    throwIfAborted(options.signal);
    const batch = await batches.next();
    last = batch.last;
    try {
      opener.push(batch.data, release);
      if (last) release(opener.end());
    } catch (error) {
      // What authenticated before the failure is released too, as age.md's streaming decryption does.
      await output.write(released.splice(0)).catch(() => undefined);
      throw error;
    }
    await output.write(released.splice(0));
  }
  await output.flush();
  return size;
}
