import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Every chunk of data passes through a fresh Buffer (node:crypto's update() always allocates its output), and V8
 * only collects those once ~64 MiB of them have piled up outside its heap. Asking for a minor collection every
 * few MiB keeps that pile, and so peak RSS, small and independent of file size, at ~1 ms per collection.
 */
type Gc = (options: { type: 'minor' | 'major' }) => void;
let exposedGc: Gc | undefined | null;

function gcFunction(): Gc | null {
  if (exposedGc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      exposedGc = runInNewContext('gc') as Gc;
    } catch {
      exposedGc = null;
    }
  }
  return exposedGc;
}

/**
 * Returns account(bytes): call it as data flows. It runs a minor collection every `interval` bytes, and a major one
 * every eighth time, for buffers that lived across an await long enough to be promoted.
 */
export function garbageBudget(interval = 8 * 1024 * 1024): (bytes: number) => void {
  const gc = gcFunction();
  let pending = 0;
  let count = 0;
  return (bytes) => {
    pending += bytes;
    if (pending >= interval && gc !== null) {
      pending = 0;
      gc({ type: ++count % 8 === 0 ? 'major' : 'minor' });
    }
  };
}
