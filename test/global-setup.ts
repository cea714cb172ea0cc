// Every test run writes under one temporary directory of its own (TMPDIR, inherited by the workers and by every
// sft process a test starts) and removes it at the end: thousands of temporary trees must not pile up in /tmp.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'sft-vitest-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
