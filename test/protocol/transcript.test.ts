import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType } from '../../src/protocol/frames.js';
import { decodeClientHello, decodeFileHeader, decodeServerHello } from '../../src/protocol/messages.js';
import { ControlChannel } from '../../src/protocol/channel.js';
import { readVector } from '../helpers.js';
// @ts-expect-error plain JS script over dist/, built by `npm test` before vitest runs
import { transcript } from '../../scripts/transcript.js';

type Transcript = Record<string, string> & { frames: Record<string, string> };

describe('worked transcript (docs/PROTOCOL.md §7)', () => {
  const expected = readVector<Transcript>('sft-transcript.json');

  it('recomputes byte for byte from fixed randomness', async () => {
    expect(await (transcript as () => Promise<Transcript>)()).toEqual(expected);
  });

  it('parses with the decoders: hello fields, suite choice, and the sealed file header', () => {
    const stream = Buffer.from(Object.values(expected.frames).join(''), 'hex');
    const frames = new FrameDecoder().push(stream);
    expect(frames.map((f) => f.type)).toEqual([FrameType.ClientHello, FrameType.ServerHello, FrameType.ClientConfirm, FrameType.FileHeader, FrameType.FinalChunk, FrameType.FileTrailer]);
    const hello = decodeClientHello(frames[0]?.body ?? Buffer.alloc(0));
    expect(hello).toMatchObject({ version: 1, suites: [1, 2], iterations: 1000 });
    expect(hello.salt.toString('hex')).toBe(expected.salt);
    expect(decodeServerHello(frames[1]?.body ?? Buffer.alloc(0)).suite).toBe(1);
    const control = new ControlChannel('aes-256-gcm', Buffer.from(expected.keyServerToClient as string, 'hex'), Buffer.from(expected.keyClientToServer as string, 'hex'));
    const header = decodeFileHeader(control.open(FrameType.FileHeader, frames[3]?.body ?? Buffer.alloc(0)));
    expect(header).toEqual({ index: 0, path: 'hello.txt', size: 5, mode: 0o644, mtimeMs: 0 });
  });
});
