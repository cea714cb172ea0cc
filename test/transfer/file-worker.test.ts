import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileWorker } from '../../src/transfer/file-worker.js';
import { tempDir } from '../helpers.js';

describe('FileWorker', () => {
  it('a read aborted while the worker finishes it still settles (the sender of a session cut mid-file)', async () => {
    const path = join(tempDir(), 'two-blocks.bin');
    writeFileSync(path, Buffer.alloc(2 * 1024 * 1024, 7));
    const fd = openSync(path, 'r');
    try {
      // 'source' then 'close' reach the worker together: it reads both blocks, posts the digest, then 'closed'.
      const source = FileWorker.shared().source(fd, 0, 2 * 1024 * 1024);
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref());
      expect(await Promise.race([source.abort().then(() => 'settled'), timeout])).toBe('settled');
    } finally {
      closeSync(fd);
    }
  });

  it('a sink writes pieces that cross its buffers, and its digest is of all of them', async () => {
    const path = join(tempDir(), 'sink.bin');
    const fd = openSync(path, 'w');
    // 300 KiB pieces: they straddle the sink's 1 MiB buffers, and the last buffer is only partly filled.
    const pieces = Array.from({ length: 5 }, () => randomBytes(300 * 1024));
    try {
      const sink = FileWorker.shared().sink(fd, 0);
      for (const piece of pieces) await sink.write([piece.subarray(0, 1000), piece.subarray(1000)]);
      const digest = await sink.finish();
      expect(digest.toString('hex')).toBe(createHash('sha256').update(Buffer.concat(pieces)).digest('hex'));
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path).equals(Buffer.concat(pieces))).toBe(true);
  });

  it('an aborted sink has written every byte handed to it (a kept partial holds all the verified content)', async () => {
    const path = join(tempDir(), 'aborted.bin');
    const fd = openSync(path, 'w');
    const pieces = [randomBytes(100 * 1024), randomBytes(200 * 1024)];
    try {
      const sink = FileWorker.shared().sink(fd, 0);
      for (const piece of pieces) await sink.write([piece]);
      await sink.abort();
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path).equals(Buffer.concat(pieces))).toBe(true);
  });
});
