// Prints a `--mutate` list that samples a directory's mutants for `npm run mutate` when a full run would not fit
// the machine (docs/TESTING.md): in each file, every k-th source line that holds a mutant, from the line at offset
// (k/2) on, as a single-line range (`file:L-L` selects the mutants that begin and end on that line). Deterministic:
// the same sources, k and offset give the same sample.
//   node scripts/mutate-sample.js K FILE...   e.g. node scripts/mutate-sample.js 4 src/rest/*.ts src/rest/*/*.ts
import { readFileSync } from 'node:fs';
import { Instrumenter } from '@stryker-mutator/instrumenter';

const [k, ...files] = process.argv.slice(2);
const every = Number(k);
if (!Number.isInteger(every) || every < 1 || files.length === 0) {
  console.error('usage: node scripts/mutate-sample.js K FILE...');
  process.exit(2);
}
const quiet = { debug() {}, info() {}, trace() {}, warn: console.warn, isDebugEnabled: () => false, isTraceEnabled: () => false };
const result = await new Instrumenter(quiet).instrument(
  files.map((name) => ({ name: new URL(name, `file://${process.cwd()}/`).pathname, mutate: true, content: readFileSync(name, 'utf8') })),
  { plugins: null, excludedMutations: [], ignorers: [], noHeader: false },
);
const ranges = [];
let total = 0;
let sampled = 0;
for (const file of files) {
  const path = new URL(file, `file://${process.cwd()}/`).pathname;
  const mine = result.mutants.filter((m) => m.fileName === path && m.status === undefined);
  // Stryker's locations are 0-based lines; --mutate ranges are 1-based.
  const lines = [...new Set(mine.filter((m) => m.location.start.line === m.location.end.line).map((m) => m.location.start.line + 1))].sort((a, b) => a - b);
  const chosen = lines.filter((_, i) => i % every === Math.floor(every / 2) % every);
  total += mine.length;
  sampled += mine.filter((m) => m.location.start.line === m.location.end.line && chosen.includes(m.location.start.line + 1)).length;
  ranges.push(...chosen.map((line) => `${file}:${line}-${line}`));
}
console.error(`${sampled} of ${total} mutants in ${files.length} files (every ${every}th line with a mutant)`);
console.log(ranges.join(','));
