// Each decoder and the handshake refuse exactly at their limits, with their typed error (mutation testing found
// these limits unguarded: docs/TESTING.md).
import { describe, expect, it } from 'vitest';
import { ContentOpener, ContentSealer } from '../../src/protocol/channel.js';
import { Reader, Writer } from '../../src/protocol/codec.js';
import { FrameDecoder, FrameType, encodeFrame } from '../../src/protocol/frames.js';
import { CLIENT_ITERATION_BOUNDS, clientFinish, clientHello, passwordCredentials, serverGreeting, serverRespond } from '../../src/protocol/handshake.js';
import {
  MAGIC,
  MAX_REQUEST_PATHS,
  Mode,
  NONCE_SIZE,
  Op,
  OfferKind,
  decodeClientHello,
  decodeError,
  decodeGreeting,
  decodeOffer,
  decodeRequest,
  encodeClientHello,
  encodeError,
  encodeGreeting,
  encodeOffer,
  encodeRequest,
} from '../../src/protocol/messages.js';
import { createServerSetup, opaqueReady } from '../../src/crypto/opaque.js';

const nonce = Buffer.alloc(NONCE_SIZE, 7);

describe('message limits', () => {
  it('a greeting with an unknown authentication mode is UNSUPPORTED', () => {
    const body = encodeGreeting({ mode: Mode.Accounts, nonce });
    expect(decodeGreeting(body)).toMatchObject({ mode: Mode.Accounts });
    body[MAGIC.length] = 3; // the mode byte follows the magic
    expect(() => decodeGreeting(body)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringMatching(/unknown authentication mode 3/) }));
  });

  it('a client hello offers 1 to 8 suites', () => {
    const hello = (suites: number[]) => encodeClientHello({ mode: Mode.Password, serverNonce: nonce, nonce, suites, encapsulationKey: Buffer.alloc(1184), Ya: Buffer.alloc(32) });
    expect(decodeClientHello(hello([1, 2, 1, 2, 1, 2, 1, 2]), Mode.Password).suites).toHaveLength(8);
    for (const suites of [[], [1, 2, 1, 2, 1, 2, 1, 2, 1]]) {
      expect(() => decodeClientHello(hello(suites), Mode.Password)).toThrow(expect.objectContaining({ code: 'MALFORMED', message: expect.stringMatching(/suite count/) }));
    }
  });

  it(`a get or delete names 1 to ${MAX_REQUEST_PATHS} paths; list and put carry one path; other operations are UNSUPPORTED`, () => {
    const paths = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`);
    expect(decodeRequest(encodeRequest({ op: Op.Get, paths: paths(MAX_REQUEST_PATHS) }))).toEqual({ op: Op.Get, paths: paths(MAX_REQUEST_PATHS) });
    for (const n of [0, MAX_REQUEST_PATHS + 1]) {
      expect(() => decodeRequest(encodeRequest({ op: Op.Delete, paths: paths(n) }))).toThrow(expect.objectContaining({ code: 'MALFORMED', message: `request: ${n} paths (1 to ${MAX_REQUEST_PATHS})` }));
    }
    expect(decodeRequest(encodeRequest({ op: Op.List, path: 'a/b' }))).toEqual({ op: Op.List, path: 'a/b' });
    expect(() => decodeRequest(Buffer.from([9, 0, 0]))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: 'request: unknown operation 9' }));
  });

  it('a string field is refused one byte past its limit, and is not read when refused', () => {
    const body = new Writer().string('x'.repeat(10)).done();
    expect(new Reader(body, 'test').string('name', 10)).toBe('x'.repeat(10));
    expect(() => new Reader(body, 'test').string('name', 9)).toThrow(expect.objectContaining({ code: 'MALFORMED', message: 'test: "name" longer than 9 bytes' }));
    const short = new Writer().shortString('y'.repeat(5)).done();
    expect(() => new Reader(short, 'test').shortString('code', 4)).toThrow(/"code" longer than 4 bytes/);
  });

  it('refusals and errors are cut to the lengths their decoders accept', () => {
    const refused = decodeOffer(encodeOffer({ index: 3, kind: OfferKind.Refused, code: 'TOO_LARGE', message: 'm'.repeat(600) }));
    expect(refused).toMatchObject({ index: 3, kind: OfferKind.Refused, code: 'TOO_LARGE' });
    expect(refused.kind === OfferKind.Refused && refused.message).toBe('m'.repeat(512));
    expect(decodeError(encodeError({ code: 'C'.repeat(40), message: 'e'.repeat(300) }))).toEqual({ code: 'C'.repeat(32), message: 'e'.repeat(200) });
  });
});

describe('frame and chunk limits', () => {
  it('the decoder knows when it holds part of a frame (a connection closed there is cut)', () => {
    const frame = encodeFrame(FrameType.Done, Buffer.alloc(12));
    const decoder = new FrameDecoder(new Set([FrameType.Done]));
    expect(decoder.atBoundary).toBe(true);
    decoder.push(frame.subarray(0, 2));
    expect(decoder.atBoundary).toBe(false);
    decoder.push(frame.subarray(2, 5)); // the whole header, none of the body
    expect(decoder.atBoundary).toBe(false);
    decoder.push(frame.subarray(5, frame.length - 1));
    expect(decoder.atBoundary).toBe(false);
    expect(decoder.push(frame.subarray(frame.length - 1))).toHaveLength(1);
    expect(decoder.atBoundary).toBe(true);
  });

  it('a chunk after the final chunk is TAMPERED, even one that would authenticate', () => {
    const key = Buffer.alloc(32, 1);
    const sealer = new ContentSealer('aes-256-gcm', key);
    const final = Buffer.concat(sealer.seal(Buffer.from('end'), true));
    const opener = new ContentOpener('aes-256-gcm', key);
    expect(Buffer.concat(opener.open([final], true)).toString()).toBe('end');
    expect(() => opener.open([final], true)).toThrow(expect.objectContaining({ code: 'TAMPERED', message: 'data after the final chunk' }));
  });
});

describe('handshake limits', () => {
  const suites = ['aes-256-gcm'] as const;

  it(`the client refuses a PBKDF2 count outside ${CLIENT_ITERATION_BOUNDS.min}–${CLIENT_ITERATION_BOUNDS.max} before running it`, async () => {
    const greeting = (iterations: number) => encodeGreeting({ mode: Mode.Password, nonce, salt: Buffer.alloc(16), iterations });
    for (const iterations of [CLIENT_ITERATION_BOUNDS.min - 1, CLIENT_ITERATION_BOUNDS.max + 1]) {
      await expect(clientHello(greeting(iterations), { password: 'pw' }, suites)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(`asks for ${iterations} PBKDF2 iterations`) });
    }
    await expect(clientHello(greeting(CLIENT_ITERATION_BOUNDS.min), { password: 'pw' }, suites)).resolves.toMatchObject({ prs: expect.any(Buffer) });
  });

  it('the client itself refuses a server that does not know the password, before it writes its finish', async () => {
    const salt = Buffer.alloc(16, 9);
    const credentials = await passwordCredentials('the real one', 1000, salt);
    const impostor = await passwordCredentials('a guess', 1000, salt);
    const greeting = serverGreeting(credentials);
    const pending = await clientHello(greeting, { password: 'the real one' }, suites);
    const { body } = serverRespond(impostor, greeting, pending.helloBody, suites);
    expect(() => clientFinish(pending, body)).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
    expect(clientFinish(pending, serverRespond(credentials, greeting, pending.helloBody, suites).body).body.length).toBeGreaterThan(0);
  });

  it('a client without an account name is told the server has accounts', async () => {
    await opaqueReady();
    const greeting = serverGreeting({ mode: Mode.Accounts, setup: createServerSetup(), record: () => undefined });
    await expect(clientHello(greeting, { password: 'pw' }, suites)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/has accounts/) });
  });

  it('the server refuses a hello with no suite it supports; the client refuses a suite it did not offer', async () => {
    const credentials = await passwordCredentials('pw', 1000);
    const greeting = serverGreeting(credentials);
    const pending = await clientHello(greeting, { password: 'pw' }, ['aes-256-gcm']);
    expect(() => serverRespond(credentials, greeting, pending.helloBody, ['chacha20-poly1305'])).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    const { body } = serverRespond(credentials, greeting, pending.helloBody, ['chacha20-poly1305', 'aes-256-gcm']);
    const otherSuite = Buffer.from(body);
    otherSuite[0] = otherSuite[0] === 1 ? 2 : 1;
    expect(() => clientFinish(pending, otherSuite)).toThrow(expect.objectContaining({ code: 'MALFORMED', message: 'server chose a suite that was not offered' }));
  });
});
