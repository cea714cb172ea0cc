import { closeSync, openSync, writeFileSync } from 'node:fs';
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
});
