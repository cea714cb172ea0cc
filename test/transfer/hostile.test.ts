import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, encodeFrame, type Frame } from '../../src/protocol/frames.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { announceFile, inboxState, sendPaths, startServer, until, type Running } from './harness.js';

let running: Running | undefined;
let proxy: Server | undefined;
afterEach(async () => {
  proxy?.close();
  await running?.close();
  running = undefined;
  proxy = undefined;
});

/**
 * A loopback proxy that re-frames the client→server stream and lets `mutate` change frames (by type and ordinal),
 * or cuts both connections after `cutAfter` bytes.
 */
async function startProxy(target: number, options: { mutate?: (frame: Frame, ordinal: number) => Frame; cutAfter?: number }): Promise<number> {
  proxy = createServer((down: Socket) => {
    const up = connect({ host: '127.0.0.1', port: target });
    const decoder = new FrameDecoder();
    const counts = new Map<number, number>();
    let forwarded = 0;
    down.on('data', (data: Buffer) => {
      if (options.cutAfter !== undefined) {
        const room = options.cutAfter - forwarded;
        forwarded += data.length;
        if (room <= data.length) {
          up.write(data.subarray(0, Math.max(0, room)), () => {
            up.destroy();
            down.destroy();
          });
          return;
        }
        up.write(data);
        return;
      }
      for (const frame of decoder.push(data)) {
        const n = counts.get(frame.type) ?? 0;
        counts.set(frame.type, n + 1);
        const out = options.mutate?.(frame, n) ?? frame;
        up.write(encodeFrame(out.type, out.body));
      }
    });
    up.on('data', (data: Buffer) => down.write(data));
    up.on('end', () => down.end());
    down.on('end', () => up.end());
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', r));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

function flipAt(frame: Frame, offset: number): Frame {
  const body = Buffer.from(frame.body);
  const at = Math.min(offset, body.length - 1);
  body[at] = (body[at] as number) ^ 0x01;
  return { type: frame.type, body };
}

describe('a proxy that flips one byte', () => {
  const cases: [string, number, number, string, number][] = [
    // [label, frame type, offset in body, expected code, exit code]
    ['in the handshake (the salt in the client hello)', FrameType.ClientHello, 6, 'AUTH_FAILED', 3],
    ['in the handshake (Ya)', FrameType.ClientHello, 50, 'AUTH_FAILED', 3],
    ['in the handshake (the client confirmation)', FrameType.ClientConfirm, 3, 'AUTH_FAILED', 3],
    ['in a file header', FrameType.FileHeader, 10, 'TAMPERED', 4],
    ['in a chunk', FrameType.Chunk, 1000, 'TAMPERED', 4],
    ['in the final chunk', FrameType.FinalChunk, 5, 'TAMPERED', 4],
    ['in the trailer', FrameType.FileTrailer, 20, 'TAMPERED', 4],
  ];
  for (const [label, type, offset, code, exitCode] of cases) {
    it(`${label}: rejected (exit ${exitCode}), nothing stored, the server keeps serving`, async () => {
      running = await startServer();
      const port = await startProxy(running.port, { mutate: (f, n) => (f.type === type && n === 0 ? flipAt(f, offset) : f) });
      const src = tempDir();
      writeFileSync(join(src, 'f.bin'), pseudoRandomBytes(200_000, 3));
      const failure = await sendPaths(port, [join(src, 'f.bin')]).then(() => undefined, (e: unknown) => e);
      expect(failure).toMatchObject({ code, exitCode });
      await until(() => (running?.errors.length ?? 0) > 0);
      expect(running.errors[0]?.code).toBe(code);
      expect(inboxState(running.inbox)).toEqual({ received: [], partial: [] });
      const ok = await sendPaths(running.port, [join(src, 'f.bin')]);
      expect(ok.files).toHaveLength(1);
    });
  }
});

describe('a connection cut in the middle of a file', () => {
  for (const cutAfter of [100, 150_000, 1_500_000]) {
    it(`after ${cutAfter} bytes: network error (exit 5), nothing among received files, and the next send resumes`, async () => {
      running = await startServer();
      const port = await startProxy(running.port, { cutAfter });
      const src = tempDir();
      const data = pseudoRandomBytes(3_000_000, 5);
      writeFileSync(join(src, 'big.bin'), data);
      await expect(sendPaths(port, [join(src, 'big.bin')])).rejects.toMatchObject({ exitCode: 5 });
      await until(() => (running?.errors.length ?? 0) > 0);
      const inbox = running.inbox;
      await until(() => inboxState(inbox).partial.every((p) => p.startsWith('.sft-partial/r-')));
      const state = inboxState(inbox);
      expect(state.received).toEqual([]);
      // What the server kept (whole chunks only) is parked for a resume.
      const kept = state.partial.filter((p) => p.endsWith('.part')).map((p) => statSync(join(inbox, p)).size)[0] ?? 0;
      const result = await sendPaths(running.port, [join(src, 'big.bin')]);
      expect(result.resumedBytes).toBe(Math.floor(kept / 65536) * 65536);
      expect(result.sentBytes).toBe(data.length - result.resumedBytes);
      expect(readFileSync(join(inbox, 'big.bin')).equals(data)).toBe(true);
      expect(inboxState(inbox).partial).toEqual([]);
    });
  }
});

describe('hostile names from a low-level client', () => {
  const names = ['../x', '/etc/x', 'a/../../x', 'a\\..\\x', 'a\0b', 'CON', 'con.txt', 'a/LPT1', 'x'.repeat(300), '', '.', 'a//b', 'a/./b', '.sft-partial/x', 'tab\there', 'trailing.'];
  for (const name of names) {
    it(`${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}…(${name.length})` : name)} is refused and nothing is written`, async () => {
      running = await startServer();
      const reply = await announceFile(running.port, name);
      expect(reply.code).toBe('REFUSED');
      expect(inboxState(running.inbox)).toEqual({ received: [], partial: [] });
      expect(readdirSync(dirname(running.inbox))).toEqual(['inbox']);
      expect(existsSync('/etc/x')).toBe(false);
    });
  }

  it('a symlink inside the inbox is never followed out of it', async () => {
    running = await startServer();
    const outside = tempDir('sft-outside-');
    symlinkSync(outside, join(running.inbox, 'link'));
    mkdirSync(join(running.inbox, 'real'));
    const reply = await announceFile(running.port, 'link/x');
    expect(reply.code).toBe('REFUSED');
    expect(readdirSync(outside)).toEqual([]);
  });
});
