import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType } from '../../src/protocol/frames.js';
import { ContentOpener, ControlChannel } from '../../src/protocol/channel.js';
import { Mode, decodeClientHello, decodeFileHeader, decodeGreeting, decodeReceipt, decodeRequest } from '../../src/protocol/messages.js';
import { readVector } from '../helpers.js';
// @ts-expect-error plain JS script over dist/, built by `npm test` before vitest runs
import { transcripts } from '../../scripts/transcript.js';

interface Frame { frame: string; hex: string }
interface Session { opaque?: Record<string, string>; values: Record<string, string>; clientToServer: Frame[]; serverToClient: Frame[] }
type Transcripts = { inputs: Record<string, unknown>; password: Session; accounts: Session & { opaque: Record<string, string> } };

const ALL = new Set(Object.values(FrameType) as FrameType[]);
const decode = (frames: Frame[]) => new FrameDecoder(ALL).push(Buffer.from(frames.map((f) => f.hex).join(''), 'hex'));

describe('worked sessions (docs/PROTOCOL.md §9)', () => {
  const expected = readVector<Transcripts>('sft-transcripts.json');

  it('the real code, given the same fixed randomness (and the recorded OPAQUE material), writes the same bytes', async () => {
    const again = (await (transcripts as (opaque: Record<string, string>) => Promise<Transcripts>)(expected.accounts.opaque)) as Transcripts;
    expect(again).toEqual(expected);
  });

  it('docs/PROTOCOL.md §9 shows exactly these sessions', () => {
    const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8').replace(/\s+/g, '');
    for (const session of [expected.password, expected.accounts]) {
      for (const frame of [...session.clientToServer, ...session.serverToClient]) expect(doc.includes(frame.hex)).toBe(true);
      for (const value of Object.values(session.values)) expect(doc.includes(value)).toBe(true);
    }
  });

  it('session 1 reads back with the decoders: greeting, hello, and every sealed frame in counter order', () => {
    const { password } = expected;
    const up = decode(password.clientToServer);
    const down = decode(password.serverToClient);
    expect(decodeGreeting(down[0]?.body ?? Buffer.alloc(0))).toMatchObject({ mode: Mode.Password, iterations: 1000 });
    expect(decodeClientHello(up[0]?.body ?? Buffer.alloc(0), Mode.Password)).toMatchObject({ suites: [1, 2] });
    const key = (name: string) => Buffer.from(password.values[name] as string, 'hex');
    const fromClient = new ControlChannel('aes-256-gcm', key('k(s2c)'), key('k(c2s)'));
    // Request, FileHeader, Start, FileTrailer, Done: counters 0..4 client → server; the chunk under fileKey(c2s, 0).
    const sealed = up.slice(2).filter((f) => f.type !== FrameType.FinalChunk).map((f) => fromClient.open(f.type, f.body));
    expect(decodeRequest(sealed[0] as Buffer)).toEqual({ op: 1, into: '' });
    expect(decodeFileHeader(sealed[1] as Buffer)).toMatchObject({ index: 0, path: 'hello.txt', size: 5 });
    const chunk = up.find((f) => f.type === FrameType.FinalChunk);
    expect(new ContentOpener('aes-256-gcm', key('fileKey(c2s, 0)')).open(chunk?.pieces ?? [], true).join('')).toBe('hello');
    const fromServer = new ControlChannel('aes-256-gcm', key('k(c2s)'), key('k(s2c)'));
    const replies = down.slice(2).map((f) => fromServer.open(f.type, f.body));
    expect(decodeReceipt(replies[1] as Buffer)).toMatchObject({ index: 0, stored: true, size: 5, storedPath: 'hello.txt' });
  });
});
