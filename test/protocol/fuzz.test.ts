/**
 * Fuzzing the frame decoder and the handshake parser with fast-check: random and mutated inputs, split at random
 * points, must give frames/values or a typed SftError, never another exception, a hang, or a buffer beyond the
 * caps. `npm test` runs a small budget; `npm run fuzz` sets SFT_FUZZ_RUNS=100000.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SftError } from '../../src/errors.js';
import { FrameDecoder, FrameType, MAX_BODY, encodeFrame } from '../../src/protocol/frames.js';
import { clientFinish, clientHello, passwordCredentials, serverFinish, serverGreeting, serverRespond } from '../../src/protocol/handshake.js';
import {
  Mode, decodeClientFinish, decodeClientHello, decodeDone, decodeError, decodeFileHeader, decodeFileTrailer, decodeGreeting, decodeListing,
  decodeNotice, decodeOffer, decodeReceipt, decodeRequest, decodeServerHello, decodeStart,
} from '../../src/protocol/messages.js';

const RUNS = Number(process.env.SFT_FUZZ_RUNS ?? 3000);
const LARGEST_BODY = Math.max(...Object.values(MAX_BODY));
const ALL = new Set(Object.values(FrameType) as FrameType[]);
const params = { numRuns: RUNS, seed: Number(process.env.SFT_FUZZ_SEED ?? Date.now() % 2 ** 31) };

/** Applies random byte flips, insertions and deletions. */
const mutate = (bytes: Uint8Array) =>
  fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete'), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }).map((edits) => {
    const out = [...bytes];
    for (const [kind, at, value] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (kind === 'flip' && out.length > 0) out[i] = (out[i] as number) ^ (value || 1);
      else if (kind === 'insert') out.splice(i, 0, value);
      else if (kind === 'delete') out.splice(i, 1);
    }
    return Buffer.from(out);
  });

const validFrame = fc.constantFrom(...Object.values(FrameType)).chain((type) =>
  fc.uint8Array({ maxLength: Math.min(MAX_BODY[type], 200) }).map((body) => encodeFrame(type, Buffer.from(body))),
);
const frameStream = fc.array(validFrame, { maxLength: 6 }).map((frames) => Buffer.concat(frames));

/** Feeds `bytes` split at `cuts`; asserts only typed errors and a bounded buffer. */
function feed(bytes: Buffer, cuts: number[]): void {
  const decoder = new FrameDecoder(ALL);
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  let previous = 0;
  try {
    for (const p of [...points, bytes.length]) {
      decoder.push(bytes.subarray(previous, p));
      previous = p;
      expect(decoder.buffered).toBeLessThanOrEqual(LARGEST_BODY + 5);
    }
  } catch (error) {
    if (!(error instanceof SftError)) throw error;
  }
}

function typed(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof SftError)) throw error;
  }
}

describe(`fuzz (${RUNS} runs per property, seed ${params.seed})`, () => {
  it('frame decoder: random bytes in random splits', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => feed(Buffer.from(bytes), cuts)), params);
  });

  it('frame decoder: mutated valid frame streams in random splits', () => {
    fc.assert(fc.property(frameStream.chain(mutate), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => feed(bytes, cuts)), params);
  });

  it('frame decoder: huge and zero length fields fail on the header, before any body is buffered', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(FrameType)), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (type, length) => {
        const decoder = new FrameDecoder(ALL);
        const head = Buffer.alloc(5);
        head.writeUInt32BE(length);
        head[4] = type;
        const ok = length >= 1 && length - 1 <= MAX_BODY[type];
        if (ok) expect(decoder.push(head).length + decoder.buffered).toBeLessThanOrEqual(1);
        else expect(() => decoder.push(head)).toThrow(SftError);
      }),
      params,
    );
  });

  it('message decoders: random and mutated bodies', () => {
    const decoders: ((body: Buffer) => unknown)[] = [
      decodeGreeting, decodeFileHeader, decodeFileTrailer, decodeReceipt, decodeDone, decodeError, decodeRequest, decodeOffer, decodeStart,
      decodeNotice, decodeListing,
      ...[Mode.Password, Mode.Accounts].flatMap((mode) => [(b: Buffer) => decodeClientHello(b, mode), (b: Buffer) => decodeServerHello(b, mode), (b: Buffer) => decodeClientFinish(b, mode)]),
    ];
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1600 }).chain(mutate), (body) => decoders.forEach((d) => typed(() => d(body)))), params);
  });

  it('handshake: the server given mutated hellos and finishes, the client given mutated greetings and server hellos', async () => {
    const suites = ['aes-256-gcm', 'chacha20-poly1305'] as const;
    const credentials = await passwordCredentials('pw', 1000);
    const greeting = serverGreeting(credentials);
    const client = await clientHello(greeting, { password: 'pw' }, suites);
    const server = serverRespond(credentials, greeting, client.helloBody, suites);
    const { body: finish } = clientFinish(client, server.body);
    await fc.assert(
      fc.asyncProperty(mutate(client.helloBody), mutate(server.body), mutate(finish), mutate(greeting), async (helloBody, serverHelloBody, finishBody, greetingBody) => {
        typed(() => serverRespond(credentials, greeting, helloBody, suites));
        typed(() => clientFinish(client, serverHelloBody));
        typed(() => serverFinish(server.pending, finishBody));
        try {
          await clientHello(greetingBody, { password: 'pw' }, suites);
        } catch (error) {
          if (!(error instanceof SftError)) throw error;
        }
      }),
      { ...params, numRuns: Math.max(50, Math.floor(RUNS / 20)) },
    );
  });
});
