import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, FrameType, Frame } from '../../src/protocol/frames.js';
import { OfferKind } from '../../src/protocol/messages.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { announceFile, client, flipAt, inboxState, sendPaths, startProxy, startServer, until, type ProxyOptions, type Running } from './harness.js';

let running: Running | undefined;
let proxy: Server | undefined;
afterEach(async () => {
  proxy?.close();
  await running?.close();
  running = undefined;
  proxy = undefined;
});

async function viaProxy(options: ProxyOptions): Promise<number> {
  const started = await startProxy((running as Running).port, options);
  proxy = started.server;
  return started.port;
}

/** Flips a byte in the first frame of `type` (or the n-th). */
const flip = (type: FrameType, offset: number, nth = 0) => (f: Frame, n: number) => (f.type === type && n === nth ? flipAt(f, offset) : f);

describe('a proxy that flips one byte, client → server (send)', () => {
  // [label, frame type, offset in body, client's code and exit, server's code]
  const cases: [string, FrameType, number, string, number, string][] = [
    ['the ML-KEM encapsulation key in the client hello', FrameType.ClientHello, 40, 'AUTH_FAILED', 3, 'AUTH_FAILED'],
    ['Ya in the client hello', FrameType.ClientHello, -5, 'AUTH_FAILED', 3, 'AUTH_FAILED'],
    ['the nonce echo in the client hello (a replay)', FrameType.ClientHello, 2, 'NETWORK', 5, 'MALFORMED'],
    ['the client finish', FrameType.ClientFinish, 3, 'NETWORK', 5, 'AUTH_FAILED'],
    ['the request', FrameType.Request, 3, 'TAMPERED', 4, 'TAMPERED'],
    ['a file header', FrameType.FileHeader, 10, 'TAMPERED', 4, 'TAMPERED'],
    ['a chunk', FrameType.Chunk, 1000, 'TAMPERED', 4, 'TAMPERED'],
    ['the final chunk', FrameType.FinalChunk, 5, 'TAMPERED', 4, 'TAMPERED'],
    ['the trailer', FrameType.FileTrailer, 20, 'TAMPERED', 4, 'TAMPERED'],
  ];
  for (const [label, type, offset, code, exitCode, serverCode] of cases) {
    it(`${label}: client ${code} (exit ${exitCode}), server ${serverCode}, nothing stored, the server keeps serving`, async () => {
      running = await startServer();
      const port = await viaProxy({ up: flip(type, offset) });
      const src = tempDir();
      writeFileSync(join(src, 'f.bin'), pseudoRandomBytes(CHUNK_SIZE * 2 + 5, 3));
      const failure = await sendPaths(port, [join(src, 'f.bin')]).then(() => undefined, (e: unknown) => e);
      expect(failure).toMatchObject({ code, exitCode });
      await until(() => (running?.errors.length ?? 0) > 0);
      expect(running.errors[0]?.code).toBe(serverCode);
      expect(inboxState(running.inbox).received).toEqual([]);
      const ok = await sendPaths(running.port, [join(src, 'f.bin')]);
      expect(ok.delivered).toHaveLength(1);
    });
  }
});

describe('a proxy that flips one byte, server → client', () => {
  const cases: [string, FrameType, number, string, number][] = [
    ['the greeting (its salt)', FrameType.Greeting, 30, 'AUTH_FAILED', 3],
    ['the ML-KEM ciphertext in the server hello', FrameType.ServerHello, 10, 'AUTH_FAILED', 3],
    ['Yb in the server hello', FrameType.ServerHello, -40, 'AUTH_FAILED', 3],
    ['the server confirmation', FrameType.ServerHello, -1, 'AUTH_FAILED', 3],
    ['an offer', FrameType.Offer, 3, 'TAMPERED', 4],
    ['a receipt', FrameType.Receipt, 3, 'TAMPERED', 4],
  ];
  for (const [label, type, offset, code, exitCode] of cases) {
    it(`during send, ${label}: client ${code} (exit ${exitCode})`, async () => {
      running = await startServer();
      const port = await viaProxy({ down: flip(type, offset) });
      const src = tempDir();
      writeFileSync(join(src, 'f.bin'), pseudoRandomBytes(1000, 3));
      await expect(sendPaths(port, [join(src, 'f.bin')])).rejects.toMatchObject({ code, exitCode });
    });
  }

  const download: [string, FrameType, number][] = [
    ['a file header', FrameType.FileHeader, 10],
    ['a chunk', FrameType.Chunk, 1000],
    ['the final chunk', FrameType.FinalChunk, 5],
    ['the trailer', FrameType.FileTrailer, 20],
    ['the done', FrameType.Done, 3],
  ];
  for (const [label, type, offset] of download) {
    it(`during get, ${label}: TAMPERED (exit 4) and nothing placed locally`, async () => {
      running = await startServer();
      const src = tempDir();
      writeFileSync(join(src, 'f.bin'), pseudoRandomBytes(CHUNK_SIZE * 2 + 5, 4));
      await sendPaths(running.port, [join(src, 'f.bin')]);
      const port = await viaProxy({ down: flip(type, offset) });
      const down = tempDir();
      await expect(client(port).get(['f.bin'], { dir: down })).rejects.toMatchObject({ code: 'TAMPERED', exitCode: 4 });
      expect(inboxState(down).received).toEqual(type === FrameType.Done ? ['f.bin'] : []);
    });
  }
});

describe('replayed and reordered frames', () => {
  it('a sealed file header sent twice is refused as tampering', async () => {
    running = await startServer();
    // The second header is replaced by a replay of the first (sealed under control counter 0, expected 1).
    let first: Buffer | undefined;
    const port = await viaProxy({
      up: (f, n) => {
        if (f.type !== FrameType.FileHeader) return f;
        if (n === 0) first = f.body;
        return n === 1 && first !== undefined ? Frame.of(f.type, first) : f;
      },
    });
    const src = tempDir();
    writeFileSync(join(src, 'a'), 'a');
    writeFileSync(join(src, 'b'), 'b');
    await expect(sendPaths(port, [join(src, 'a'), join(src, 'b')])).rejects.toMatchObject({ code: 'TAMPERED' });
    await until(() => (running?.errors.length ?? 0) > 0);
    expect(running.errors[0]?.code).toBe('TAMPERED');
  });
});

describe('a connection cut in the middle of a file', () => {
  for (const cutAfter of [100, 600_000, 2_500_000]) {
    it(`send, cut after ${cutAfter} bytes: network error (exit 5), nothing among received files, the next send resumes`, async () => {
      running = await startServer();
      const port = await viaProxy({ cutAfter });
      const src = tempDir();
      const data = pseudoRandomBytes(3_000_000, 5);
      writeFileSync(join(src, 'big.bin'), data);
      await expect(sendPaths(port, [join(src, 'big.bin')])).rejects.toMatchObject({ exitCode: 5 });
      await until(() => (running?.errors.length ?? 0) > 0);
      const inbox = running.inbox;
      await until(() => inboxState(inbox).partial.every((p) => p.startsWith('.sft-partial/r-')));
      const state = inboxState(inbox);
      expect(state.received).toEqual([]);
      const kept = state.partial.filter((p) => p.endsWith('.part')).map((p) => statSync(join(inbox, p)).size)[0] ?? 0;
      const result = await sendPaths(running.port, [join(src, 'big.bin')]);
      expect(result.resumedBytes).toBe(Math.floor(kept / CHUNK_SIZE) * CHUNK_SIZE);
      expect(result.sentBytes).toBe(data.length - result.resumedBytes);
      expect(readFileSync(join(inbox, 'big.bin')).equals(data)).toBe(true);
      expect(inboxState(inbox).partial).toEqual([]);
    });
  }

  it('get, cut at 40 MiB of 64 MiB: the next get re-sends at most a few MiB', async () => {
    running = await startServer();
    const src = tempDir();
    const data = pseudoRandomBytes(64 * 1024 * 1024, 6);
    writeFileSync(join(src, 'big.bin'), data);
    await sendPaths(running.port, [join(src, 'big.bin')]);
    const port = await viaProxy({ cutAfter: 40 * 1024 * 1024, cutDown: true });
    const down = tempDir();
    await expect(client(port).get(['big.bin'], { dir: down })).rejects.toMatchObject({ exitCode: 5 });
    expect(inboxState(down).received).toEqual([]);
    const got = await client(running.port).get(['big.bin'], { dir: down });
    const sent = 64 * 1024 * 1024 - (got.stored[0]?.resumedFrom ?? 0);
    expect(readFileSync(join(down, 'big.bin')).equals(data)).toBe(true);
    expect(sent).toBeLessThanOrEqual(26 * 1024 * 1024);
    expect(got.stored[0]?.resumedFrom).toBeGreaterThanOrEqual(38 * 1024 * 1024);
    expect(inboxState(down).partial).toEqual([]);
  });

  it('a partial of the same file wins over a stored file of the same name and size, and is not left behind', async () => {
    running = await startServer();
    const src = tempDir();
    writeFileSync(join(src, 'same.bin'), pseudoRandomBytes(CHUNK_SIZE * 8, 11));
    await sendPaths(running.port, [join(src, 'same.bin')]);
    const changed = pseudoRandomBytes(CHUNK_SIZE * 8, 12);
    writeFileSync(join(src, 'same.bin'), changed);
    const port = await viaProxy({ cutAfter: CHUNK_SIZE * 4 });
    await expect(sendPaths(port, [join(src, 'same.bin')])).rejects.toMatchObject({ exitCode: 5 });
    await until(() => inboxState((running as Running).inbox).partial.some((p) => p.includes('/r-')));
    const result = await sendPaths(running.port, [join(src, 'same.bin')]);
    expect(result.resumedBytes).toBeGreaterThan(0);
    expect(result.delivered[0]?.storedPath).toBe('same (1).bin');
    expect(readFileSync(join(running.inbox, 'same (1).bin')).equals(changed)).toBe(true);
    expect(inboxState(running.inbox).partial).toEqual([]);
  });

  it('a chunk altered in transit keeps the verified prefix for a resume: a forged error cannot cost what a cut would not', async () => {
    running = await startServer();
    const port = await viaProxy({ up: flip(FrameType.Chunk, 100, 3) });
    const src = tempDir();
    const data = pseudoRandomBytes(CHUNK_SIZE * 6, 7);
    writeFileSync(join(src, 'big.bin'), data);
    await expect(sendPaths(port, [join(src, 'big.bin')])).rejects.toMatchObject({ code: 'TAMPERED' });
    await until(() => inboxState((running as Running).inbox).partial.some((p) => p.endsWith('.part') && p.includes('/r-')));
    const result = await sendPaths(running.port, [join(src, 'big.bin')]);
    expect(result.resumedBytes).toBe(3 * CHUNK_SIZE);
    expect(readFileSync(join(running.inbox, 'big.bin')).equals(data)).toBe(true);
  });
});

describe('hostile names from a low-level client', () => {
  const names = [
    '../x', '/etc/x', 'a/../../x', 'a\\..\\x', 'a\0b', 'CON', 'con.txt', 'a/LPT1', 'x'.repeat(300), '', '.', 'a//b', 'a/./b',
    '.sft-partial/x', '.SFT-PARTIAL/x', '.ſft-partial/x', 'tab\there', 'trailing.', 'bidi\u202etxt.exe', 'line\u2028break', 'esc\u001b[2J',
    'isolate\u2066x', 'para\u2029break', 'rlm\u200fx', 'ＣＯＮ',
  ];
  for (const name of names) {
    it(`${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}…(${name.length})` : name)} is refused and nothing is written`, async () => {
      running = await startServer();
      const offer = await announceFile(running.port, name);
      expect(offer).toMatchObject({ kind: OfferKind.Refused, code: 'REFUSED' });
      expect(inboxState(running.inbox)).toEqual({ received: [], partial: [] });
      expect(readdirSync(dirname(running.inbox))).toEqual(['inbox']);
      expect(existsSync('/etc/x')).toBe(false);
    });
  }

  it('a symlink inside the inbox is never followed out of it, by send or get', async () => {
    running = await startServer();
    const outside = tempDir('sft-outside-');
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(outside, join(running.inbox, 'link'));
    symlinkSync(join(outside, 'secret'), join(running.inbox, 'file-link'));
    mkdirSync(join(running.inbox, 'real'));
    expect(await announceFile(running.port, 'link/x')).toMatchObject({ kind: OfferKind.Refused });
    expect(readdirSync(outside)).toEqual(['secret']);
    const down = tempDir();
    const got = await client(running.port).get(['link/secret', 'file-link', 'link'], { dir: down });
    expect(got.stored).toEqual([]);
    expect(got.notices.map((n) => n.code).sort()).toEqual(['REFUSED', 'SKIPPED', 'SKIPPED']);
    expect(readdirSync(down)).toEqual([]);
  });
});
