import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHUNK_SIZE, Frame, FrameDecoder, FrameType, MAX_BODY, encodeFrame } from '../../src/protocol/frames.js';
import { EntryKind, Mode, decodeClientHello, decodeFileHeader, decodeStart, encodeFileHeader, encodeStart } from '../../src/protocol/messages.js';
import { SftError } from '../../src/errors.js';
import { pseudoRandomBytes, randomSplit } from '../helpers.js';

const types = Object.values(FrameType) as FrameType[];
const ALL = new Set(types);

describe('frame decoder', () => {
  it('decodes any sequence of valid frames split at any points (property)', () => {
    const frame = fc.constantFrom(...types).chain((type) => fc.uint8Array({ maxLength: Math.min(MAX_BODY[type], 300) }).map((body) => ({ type, body: Buffer.from(body) })));
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)));
        const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder(ALL);
        const out = [];
        let previous = 0;
        for (const p of [...points, bytes.length]) {
          out.push(...decoder.push(bytes.subarray(previous, p)));
          previous = p;
        }
        expect(out.map((f) => ({ type: f.type, body: f.body }))).toEqual(frames);
        for (const f of out) expect(Buffer.concat(f.pieces).equals(f.body)).toBe(true);
        expect(decoder.atBoundary).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a content frame comes back as views of the buffers it arrived in, a control frame as one buffer', () => {
    const chunk = encodeFrame(FrameType.Chunk, pseudoRandomBytes(CHUNK_SIZE + 16, 1));
    const header = encodeFrame(FrameType.FileHeader, pseudoRandomBytes(100, 2));
    const reads = randomSplit(Buffer.concat([header, chunk, header]), 7).map((piece) => Buffer.from(piece));
    const decoder = new FrameDecoder(ALL);
    const frames = reads.flatMap((read) => decoder.push(read));
    expect(frames.map((f) => f.type)).toEqual([FrameType.FileHeader, FrameType.Chunk, FrameType.FileHeader]);
    const [first, content] = frames as [Frame, Frame];
    expect(first.pieces).toHaveLength(1);
    expect(content.pieces.length).toBeGreaterThan(1);
    expect(content.pieces.every((piece) => reads.some((read) => read.buffer === piece.buffer))).toBe(true);
    expect(Buffer.concat(content.pieces).equals(chunk.subarray(5))).toBe(true);
    expect(content.length).toBe(CHUNK_SIZE + 16);
    // Trickled a byte at a time, the same frame is joined: at most 16 pieces, whatever the peer does.
    const trickled = new FrameDecoder(ALL);
    const slow = [...chunk.subarray(0, 4000)].map((b) => Buffer.of(b));
    const [joined] = [...slow, chunk.subarray(4000)].flatMap((read) => trickled.push(read));
    expect(joined?.pieces).toHaveLength(1);
    expect(joined?.body.equals(chunk.subarray(5))).toBe(true);
  });

  it('rejects unknown types and lengths over the cap before buffering the body', () => {
    expect(() => new FrameDecoder(ALL).push(Buffer.from([0, 0, 0, 2, 0x55, 0]))).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    // Before the handshake completes only handshake frames are accepted: a chunk header fails at once.
    expect(() => new FrameDecoder(new Set([FrameType.ClientHello])).push(Buffer.from([0, 0, 0, 2, FrameType.Chunk, 0]))).toThrow(/not allowed here/);
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, FrameType.Chunk]);
    const decoder = new FrameDecoder(ALL);
    expect(() => decoder.push(huge)).toThrow(/out of range/);
    expect(() => new FrameDecoder(ALL).push(Buffer.from([0, 0, 0, 0, FrameType.Done]))).toThrow(/out of range/);
  });

  it('random bytes give frames or a typed error, never anything else (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        try {
          new FrameDecoder(ALL).push(Buffer.from(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(SftError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('message decoders reject truncation, trailing bytes and bad UTF-8 with typed errors (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [(b: Buffer) => decodeClientHello(b, Mode.Password), decodeFileHeader]) {
          try {
            decode(Buffer.from(bytes));
          } catch (error) {
            expect(error).toBeInstanceOf(SftError);
          }
        }
      }),
      { numRuns: 2000 },
    );
    const good = encodeFileHeader({ index: 1, kind: EntryKind.File, path: 'a/b', size: 3, mode: 0o600, mtimeNs: 5n });
    expect(decodeFileHeader(good).path).toBe('a/b');
    expect(() => decodeFileHeader(good.subarray(0, good.length - 1))).toThrow(/truncated/);
    expect(() => decodeFileHeader(Buffer.concat([good, Buffer.of(0)]))).toThrow(/trailing/);
    const badUtf8 = Buffer.from(good);
    badUtf8[badUtf8.length - 1] = 0xff;
    expect(() => decodeFileHeader(badUtf8)).toThrow(/UTF-8/);
  });

  it('enumerations are strict: a Start with skip = 2 is malformed, not read as 0', () => {
    const start = encodeStart({ index: 0, skip: false, offset: 0 });
    expect(decodeStart(start)).toEqual({ index: 0, skip: false, offset: 0 });
    start[4] = 2;
    expect(() => decodeStart(start)).toThrow(/skip/);
  });
});

describe('control channel', () => {
  it('nonces advance: the same plaintext seals differently each time, and a frame opens only once', async () => {
    const { ControlChannel } = await import('../../src/protocol/channel.js');
    const key = Buffer.alloc(32, 1);
    const sender = new ControlChannel('aes-256-gcm', key, key);
    const receiver = new ControlChannel('aes-256-gcm', key, key);
    const a = sender.seal(FrameType.Done, Buffer.from('same'));
    const b = sender.seal(FrameType.Done, Buffer.from('same'));
    expect(a.equals(b)).toBe(false);
    expect(receiver.open(FrameType.Done, a).toString()).toBe('same');
    expect(() => receiver.open(FrameType.Done, a)).toThrow(expect.objectContaining({ code: 'TAMPERED' }));
    expect(() => receiver.open(FrameType.FileTrailer, b)).toThrow(expect.objectContaining({ code: 'TAMPERED' }));
    expect(receiver.open(FrameType.Done, b).toString()).toBe('same');
  });
});
