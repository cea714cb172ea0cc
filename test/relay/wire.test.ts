import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SftError } from '../../src/errors.js';
import { MAX_FRAME, RelayDecoder, RelayErrorCode, encodeError, encodeHello, encodePaired, encodeWaiting, type RelayMessage } from '../../src/relay/wire.js';
import { randomSplit } from '../helpers.js';

const limits = { maxBytes: 2 ** 40, rate: 1_048_576, lifetimeMs: 43_200_000, idleMs: 300_000, halfOpenGraceMs: 10_000 };
const magic = Buffer.from('SFTRELAY').toString('hex');

function decodeAll(side: 'relay' | 'peer', pieces: Buffer[], stopAfter: RelayMessage['type']): { messages: RelayMessage[]; rest: Buffer } {
  const decoder = new RelayDecoder(side);
  const messages: RelayMessage[] = [];
  const late: Buffer[] = [];
  for (const piece of pieces) {
    if (messages.at(-1)?.type === stopAfter) {
      late.push(piece);
      continue;
    }
    decoder.push(piece);
    for (let m; messages.at(-1)?.type !== stopAfter && (m = decoder.next()) !== undefined; ) messages.push(m);
  }
  return { messages, rest: Buffer.concat([decoder.takeRest(), ...late]) };
}

describe('relay wire format (docs/PROTOCOL.md §10.2), byte by byte', () => {
  it('HELLO: type 01, length 000e, magic, version 1, mode, nameplate u32', () => {
    expect(encodeHello({ mode: 'allocate' }).toString('hex')).toBe(`01000e${magic}010100000000`);
    expect(encodeHello({ mode: 'claim', nameplate: 7 }).toString('hex')).toBe(`01000e${magic}010200000007`);
    expect(encodeHello({ mode: 'claim', nameplate: 999_999_999 }).toString('hex')).toBe(`01000e${magic}01023b9ac9ff`);
  });

  it('WAITING, PAIRED, ERROR', () => {
    expect(encodeWaiting(468).toString('hex')).toBe('020004000001d4');
    expect(encodePaired(limits).toString('hex')).toBe(
      '03001c' + '0000010000000000' + '0000000000100000' + '02932e00' + '000493e0' + '00002710',
    );
    expect(encodeError(RelayErrorCode.RoomFull, 'full').toString('hex')).toBe('7f00050366756c6c');
  });

  it('decodes what it encodes, one byte at a time, and stops at PAIRED leaving what follows untouched', () => {
    const payload = Buffer.from('partner bytes, not protocol');
    const stream = Buffer.concat([encodeWaiting(12), encodePaired(limits), payload]);
    const { messages, rest } = decodeAll('peer', [...stream].map((b) => Buffer.of(b)), 'paired');
    expect(messages).toEqual([{ type: 'waiting', nameplate: 12 }, { type: 'paired', limits }]);
    expect(rest).toEqual(payload);
  });

  it('the relay stops at HELLO; the bytes after it are the early data, in any split', () => {
    const early = Buffer.alloc(300, 0xab);
    const stream = Buffer.concat([encodeHello({ mode: 'claim', nameplate: 5 }), early]);
    for (let seed = 1; seed <= 50; seed++) {
      const pieces = randomSplit(stream, seed).flatMap((p) => (p.length > 7 ? [p.subarray(0, 7), p.subarray(7)] : [p]));
      const { messages, rest } = decodeAll('relay', pieces, 'hello');
      expect(messages).toEqual([{ type: 'hello', version: 1, mode: 'claim', nameplate: 5 }]);
      expect(rest).toEqual(early);
    }
  });

  it('decodes an ERROR and a HELLO of another version (answered UNSUPPORTED_VERSION)', () => {
    expect(decodeAll('peer', [encodeError(RelayErrorCode.Busy, 'busy')], 'error').messages).toEqual([{ type: 'error', code: 4, message: 'busy' }]);
    const v2 = Buffer.from(`010014${magic}02${'00'.repeat(11)}`, 'hex');
    expect(decodeAll('relay', [v2], 'hello').messages).toEqual([{ type: 'hello', version: 2, mode: 'unknown' }]);
  });

  it('cuts an ERROR message at 200 bytes on a character boundary', () => {
    const frame = encodeError(RelayErrorCode.BadHello, 'é'.repeat(150));
    expect(frame.length).toBe(3 + 1 + 200);
    const [message] = decodeAll('peer', [frame], 'error').messages;
    expect(message).toEqual({ type: 'error', code: 1, message: 'é'.repeat(100) });
    const odd = encodeError(RelayErrorCode.BadHello, 'a' + 'é'.repeat(150));
    expect(odd.length).toBe(3 + 1 + 199);
  });

  const malformed: [string, 'relay' | 'peer', string, RegExp][] = [
    ['an HTTP request', 'relay', Buffer.from('GET / HTTP/1.1\r\n').toString('hex'), /unexpected frame type 0x47/],
    ['a frame the relay never accepts', 'relay', '020004000001d4', /unexpected frame type 0x02/],
    ['a frame a peer never accepts', 'peer', `01000e${magic}010100000000`, /unexpected frame type 0x01/],
    ['a length over the type cap', 'peer', '020005', /over its cap/],
    ['a HELLO of 65 bytes', 'relay', '010041', /over its cap/],
    ['a HELLO without the magic', 'relay', `01000e${'00'.repeat(14)}`, /magic/],
    ['a v1 HELLO of the wrong length', 'relay', `01000f${magic}01010000000000`, /15 bytes, expected 14/],
    ['a HELLO with mode 3', 'relay', `01000e${magic}010300000007`, /mode 3/],
    ['allocate with a nameplate', 'relay', `01000e${magic}010100000007`, /mode 1 and nameplate 7/],
    ['claim of nameplate 0', 'relay', `01000e${magic}010200000000`, /mode 2 and nameplate 0/],
    ['WAITING for nameplate 0', 'peer', '02000400000000', /nameplate 0/],
    ['WAITING of 3 bytes', 'peer', '020003000001', /3 bytes, expected 4/],
    ['PAIRED of 27 bytes', 'peer', `03001b${'00'.repeat(27)}`, /27 bytes, expected 28/],
    ['PAIRED with maxBytes above 2^53', 'peer', `03001c${'ff'.repeat(8)}${'00'.repeat(20)}`, /maxBytes.*too large/],
    ['ERROR without a code', 'peer', '7f0000', /without a code/],
    ['ERROR with invalid UTF-8', 'peer', '7f000204ff', /not valid UTF-8/],
  ];
  it.each(malformed)('rejects %s with MALFORMED', (_, side, hex, message) => {
    const decoder = new RelayDecoder(side);
    decoder.push(Buffer.from(hex, 'hex'));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'MALFORMED', message: expect.stringMatching(message) }));
  });

  it('random bytes give messages or a typed error, never anything else, and never hold more than a frame (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom<'relay' | 'peer'>('relay', 'peer'), fc.uint8Array({ maxLength: 400 }), (side, bytes) => {
        const decoder = new RelayDecoder(side);
        decoder.push(Buffer.from(bytes));
        try {
          while (decoder.next() !== undefined);
          expect(decoder.buffered).toBeLessThan(MAX_FRAME);
        } catch (error) {
          expect(error).toBeInstanceOf(SftError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
