/**
 * Peers that lie, from the attacker's side: each test runs a real client or server against a low-level peer that
 * completes the handshake honestly (it knows the password) and then sends well-sealed frames that say something
 * false. Each asserts the error code, the exit code, and that nothing was placed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContentSealer } from '../../src/protocol/channel.js';
import { CHUNK_SIZE, FrameType, MAX_BODY } from '../../src/protocol/frames.js';
import {
  EntryKind, OfferKind, decodeFileHeader, decodeStart, encodeDone, encodeFileHeader, encodeFileTrailer, encodeOffer, encodeReceipt, encodeStart,
  Op, type FileHeader,
} from '../../src/protocol/messages.js';
import type { Session } from '../../src/transfer/session.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { client, inboxState, lyingServer, openSession, sendPaths, startServer, until, type Running } from './harness.js';

let running: Running | undefined;
let closeLiar: (() => void) | undefined;
afterEach(async () => {
  closeLiar?.();
  await running?.close();
  running = undefined;
  closeLiar = undefined;
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest();

/** Sends one file from a low-level client, letting `lie` change what is sealed; returns the server's error. */
async function lyingUpload(lie: { trailer?: Buffer; fileKeyIndex?: number; direction?: 'c2s' | 's2c'; extra?: boolean; startOffset?: number }, data = pseudoRandomBytes(CHUNK_SIZE + 10, 5)) {
  running = await startServer();
  const session = await openSession(running.port, { op: Op.Put, into: '' });
  session.send(FrameType.FileHeader, encodeFileHeader({ index: 0, kind: EntryKind.File, path: 'f.bin', size: data.length, mode: 0o644, mtimeNs: 0n }));
  await session.next('offer');
  session.send(FrameType.Start, encodeStart({ index: 0, skip: false, offset: lie.startOffset ?? 0 }));
  const sealer = new ContentSealer('aes-256-gcm', session.fileKey(lie.direction ?? 'c2s', lie.fileKeyIndex ?? 0));
  // The content in full chunks and a final one; with `extra`, the final chunk carries 10 bytes more than announced.
  const content = lie.extra === true ? Buffer.concat([data, Buffer.alloc(10)]) : data;
  for (let at = 0; at < content.length; at += CHUNK_SIZE) {
    const last = at + CHUNK_SIZE >= content.length;
    session.sendContent(last ? FrameType.FinalChunk : FrameType.Chunk, sealer.seal(content.subarray(at, at + CHUNK_SIZE), last));
  }
  session.send(FrameType.FileTrailer, encodeFileTrailer({ index: 0, sha256: lie.trailer ?? sha(data) }));
  const reply = await session.next('a receipt').then((f) => f, (e: unknown) => e);
  session.conn.socket.destroy();
  await until(() => (running?.errors.length ?? 0) > 0);
  return { reply, error: running.errors[0], inbox: running.inbox };
}

describe('a lying client', () => {
  it('a trailer whose SHA-256 is not the content\'s: HASH_MISMATCH on both sides, nothing placed, no partial kept', async () => {
    const { reply, error, inbox } = await lyingUpload({ trailer: Buffer.alloc(32, 7) });
    expect(reply).toMatchObject({ code: 'HASH_MISMATCH', exitCode: 4 });
    expect(error).toMatchObject({ code: 'HASH_MISMATCH' });
    expect(inboxState(inbox)).toEqual({ received: [], partial: [] });
  });

  it('a chunk sealed for another file (the key of index 1): TAMPERED, nothing placed', async () => {
    const { reply, error, inbox } = await lyingUpload({ fileKeyIndex: 1 });
    expect(reply).toMatchObject({ code: 'TAMPERED', exitCode: 4 });
    expect(error).toMatchObject({ code: 'TAMPERED' });
    expect(inboxState(inbox).received).toEqual([]);
  });

  it('a chunk sealed with the other direction\'s file key: TAMPERED, nothing placed', async () => {
    const { error, inbox } = await lyingUpload({ direction: 's2c' });
    expect(error).toMatchObject({ code: 'TAMPERED' });
    expect(inboxState(inbox).received).toEqual([]);
  });

  it('more data than announced: TAMPERED, nothing placed', async () => {
    const { error, inbox } = await lyingUpload({ extra: true });
    expect(error).toMatchObject({ code: 'TAMPERED' });
    expect(inboxState(inbox).received).toEqual([]);
  });

  it('a start at an offset that was not offered: MALFORMED, nothing placed', async () => {
    const { error, inbox } = await lyingUpload({ startOffset: CHUNK_SIZE });
    expect(error).toMatchObject({ code: 'MALFORMED' });
    expect(inboxState(inbox).received).toEqual([]);
  });
});

describe('frame caps, at the limit and one byte over', () => {
  const after: FrameType[] = [FrameType.Request, FrameType.FileHeader, FrameType.Start, FrameType.FileTrailer, FrameType.Done, FrameType.Chunk, FrameType.SealedError];
  for (const type of after) {
    it(`after authentication, type 0x${type.toString(16)}: ${MAX_BODY[type]} bytes pass the framing, ${MAX_BODY[type] + 1} are refused on the header`, async () => {
      running = await startServer();
      for (const [length, framingError] of [[MAX_BODY[type], false], [MAX_BODY[type] + 1, true]] as const) {
        const before = running.errors.length;
        const session = await openSession(running.port, { op: Op.Put, into: '' });
        if (type !== FrameType.Request) await new Promise((r) => setTimeout(r, 20));
        session.conn.send(type, [Buffer.alloc(length)]);
        await until(() => (running?.errors.length ?? 0) > before);
        const error = running.errors[before];
        if (framingError) expect(error?.message).toMatch(/out of range/);
        else expect(error?.message).not.toMatch(/out of range/);
        session.conn.socket.destroy();
      }
    });
  }

  it('before authentication: a ClientHello at its 1,400-byte cap passes the framing, 1,401 is refused; a chunk is refused at once', async () => {
    running = await startServer();
    const { connect } = await import('node:net');
    const { encodeFrame, frameHeader } = await import('../../src/protocol/frames.js');
    const cases: [Buffer, RegExp][] = [
      [encodeFrame(FrameType.ClientHello, Buffer.alloc(1400)), /client hello/],
      [frameHeader(FrameType.ClientHello, 1401), /out of range/],
      [frameHeader(FrameType.Chunk, 10), /not allowed here/],
    ];
    for (const [bytes, expected] of cases) {
      const before = running.errors.length;
      const socket = connect({ host: '127.0.0.1', port: running.port, localAddress: `127.0.0.${10 + before}` });
      socket.on('error', () => undefined);
      socket.on('data', () => socket.write(bytes));
      await until(() => (running?.errors.length ?? 0) > before);
      expect(running.errors[before]?.message).toMatch(expected);
      socket.destroy();
    }
  });
});

/** The lying server's receiving side: reads a header, offers what `offer` says, then takes content to the trailer. */
async function receiveOne(session: Session, offer: (header: FileHeader) => Parameters<typeof encodeOffer>[0]) {
  const header = decodeFileHeader((await session.next('header')).body);
  session.send(FrameType.Offer, encodeOffer(offer(header)));
  const start = decodeStart((await session.next('start')).body);
  let bytes = 0;
  for (let last = false; !last; ) {
    const frame = await session.next('chunk');
    last = frame.type === FrameType.FinalChunk;
    bytes += frame.body.length - 16;
  }
  await session.next('trailer');
  return { header, start, bytes };
}

describe('a lying server', () => {
  async function upload(handle: (session: Session) => Promise<void>) {
    const liar = await lyingServer(async (session) => handle(session));
    closeLiar = liar.close;
    const src = tempDir();
    const data = pseudoRandomBytes(3 * CHUNK_SIZE, 9);
    writeFileSync(join(src, 'f.bin'), data);
    return { result: sendPaths(liar.port, [join(src, 'f.bin')]), data };
  }

  it('a receipt with another size: HASH_MISMATCH (exit 4), the file is not reported delivered', async () => {
    const { result, data } = await upload(async (session) => {
      await receiveOne(session, (h) => ({ index: h.index, kind: OfferKind.New }));
      session.send(FrameType.Receipt, encodeReceipt({ index: 0, stored: true, size: 5, sha256: sha(data), storedPath: 'f.bin' }));
    });
    await expect(result).rejects.toMatchObject({ code: 'HASH_MISMATCH', exitCode: 4 });
  });

  it('a receipt with another SHA-256: HASH_MISMATCH (exit 4)', async () => {
    const { result, data } = await upload(async (session) => {
      await receiveOne(session, (h) => ({ index: h.index, kind: OfferKind.New }));
      session.send(FrameType.Receipt, encodeReceipt({ index: 0, stored: true, size: data.length, sha256: Buffer.alloc(32), storedPath: 'f.bin' }));
    });
    await expect(result).rejects.toMatchObject({ code: 'HASH_MISMATCH', exitCode: 4 });
  });

  it('a resume offer whose prefix does not match: the client sends the whole file, from 0', async () => {
    let seen: { start: unknown; bytes: number } | undefined;
    const { result, data } = await upload(async (session) => {
      const got = await receiveOne(session, (h) => ({ index: h.index, kind: OfferKind.Resume, offset: CHUNK_SIZE, sha256: Buffer.alloc(32, 1) }));
      seen = got;
      session.send(FrameType.Receipt, encodeReceipt({ index: 0, stored: true, size: data.length, sha256: sha(data), storedPath: 'f.bin' }));
      session.send(FrameType.Done, encodeDone({ entries: 1, failed: 0, refused: 0 }));
    });
    const sent = await result;
    expect(seen?.start).toEqual({ index: 0, skip: false, offset: 0 });
    expect(seen?.bytes).toBe(data.length);
    expect(sent.sentBytes).toBe(data.length);
    expect(sent.resumedBytes).toBe(0);
  });

  it('a done that counts another number of entries: TAMPERED', async () => {
    const { result, data } = await upload(async (session) => {
      await receiveOne(session, (h) => ({ index: h.index, kind: OfferKind.New }));
      session.send(FrameType.Receipt, encodeReceipt({ index: 0, stored: true, size: data.length, sha256: sha(data), storedPath: 'f.bin' }));
      session.send(FrameType.Done, encodeDone({ entries: 2, failed: 0, refused: 0 }));
    });
    await expect(result).rejects.toMatchObject({ code: 'TAMPERED' });
  });

  /** A lying server answering a get with one entry, sealed honestly, whose header and trailer say `lie`. */
  async function download(lie: { path?: string; trailer?: Buffer }) {
    const data = pseudoRandomBytes(CHUNK_SIZE + 100, 10);
    const liar = await lyingServer(async (session) => {
      session.send(FrameType.FileHeader, encodeFileHeader({ index: 0, kind: EntryKind.File, path: lie.path ?? 'f.bin', size: data.length, mode: 0o644, mtimeNs: 0n }));
      await session.next('offer');
      session.send(FrameType.Start, encodeStart({ index: 0, skip: false, offset: 0 }));
      const sealer = new ContentSealer('aes-256-gcm', session.fileKey('s2c', 0));
      session.sendContent(FrameType.Chunk, sealer.seal(data.subarray(0, CHUNK_SIZE), false));
      session.sendContent(FrameType.FinalChunk, sealer.seal(data.subarray(CHUNK_SIZE), true));
      session.send(FrameType.FileTrailer, encodeFileTrailer({ index: 0, sha256: lie.trailer ?? sha(data) }));
      session.send(FrameType.Done, encodeDone({ entries: 1, failed: 0, refused: 0 }));
      await session.next('receipt').catch(() => undefined);
    });
    closeLiar = liar.close;
    const dir = join(tempDir(), 'down');
    const result = await client(liar.port, { suites: ['aes-256-gcm'] }).get(['f.bin'], { dir }).then((r) => r, (e: unknown) => e);
    return { result, dir };
  }

  it('get: content whose trailer SHA-256 does not match: HASH_MISMATCH, nothing placed locally', async () => {
    const { result, dir } = await download({ trailer: Buffer.alloc(32, 3) });
    expect(result).toMatchObject({ code: 'HASH_MISMATCH', exitCode: 4 });
    expect(existsSync(join(dir, 'f.bin'))).toBe(false);
    expect(inboxState(dir).partial).toEqual([]);
  });

  it('get: a server that names a path outside the download directory is refused; nothing is written outside', async () => {
    const { dir } = await download({ path: '../escaped.bin' });
    expect(existsSync(join(dirname(dir), 'escaped.bin'))).toBe(false);
    expect(readdirSync(dirname(dir)).filter((n) => n !== 'down')).toEqual([]);
  });
});
