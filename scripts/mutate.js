// npm run mutate [-- DIR...] [-- --sample K] [-- --dry]
// Mutation testing (docs/TESTING.md), one directory of the scope at a time: Stryker mutates DIR's files and runs the
// tests that exercise them directly (below), with the settings of stryker.config.mjs. DIR is crypto, rest, protocol
// or transfer (default: all four, in that order). Results go to reports/stryker-incremental.json, which keeps the
// mutants of the other directories, so a later run re-tests only what changed.
//   --sample K   mutate only every K-th source line holding a mutant in each file (from the line at K/2 on), as
//                single-line ranges: a deterministic sample for when a whole directory would not fit the machine.
//   --dry        print the Stryker command lines and the sample size, run nothing.
//   --concurrency N   test runners at once (default 1, stryker.config.mjs): 2 on an otherwise idle 2-core machine.
//   --scores     print the score per directory and every surviving mutant from the incremental file, run nothing.
//   --force      re-test every selected mutant (incremental mode re-tests a survivor only when its code or the tests
//                that covered it changed, not when a new test might now kill it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Instrumenter } from '@stryker-mutator/instrumenter';

const root = new URL('..', import.meta.url).pathname;
const transferFiles = ['server', 'client', 'sender', 'receiver', 'session', 'connection', 'store', 'partials', 'paths', 'admission', 'remote-files', 'file-worker'];

/** Each directory: its files, and the test files that exercise them directly (vectors, units, attacker tests). */
const DIRECTORIES = {
  crypto: { files: ts('src/crypto'), tests: ['test/crypto/**/*.test.ts', 'test/protocol/**/*.test.ts', 'test/rest/**/*.test.ts'] },
  rest: {
    files: [...ts('src/rest'), ...ts('src/rest/recipients')],
    tests: ['test/rest/**/*.test.ts', 'test/transfer/secure-file-transfer.test.ts', 'test/cli/encrypt-decrypt.test.ts'],
  },
  protocol: {
    files: ts('src/protocol'),
    tests: ['test/protocol/**/*.test.ts', 'test/transfer/lying-peers.test.ts', 'test/transfer/hostile.test.ts', 'test/transfer/transfer.test.ts'],
  },
  transfer: {
    files: transferFiles.map((name) => `src/transfer/${name}.ts`),
    // test/transfer/resume.test.ts is left out: 75 s of SIGKILLed child processes (see vitest.mutate.config.ts).
    tests: ['test/transfer/**/*.test.ts', 'test/relay/p2p.test.ts', 'test/cli/serve-send.test.ts', 'test/cli/user.test.ts'],
  },
};

function ts(dir) {
  return readdirSync(join(root, dir)).filter((name) => name.endsWith('.ts')).map((name) => `${dir}/${name}`).sort();
}

/** Every k-th line holding a mutant in each file, as `file:L-L` ranges (which select the mutants on that line). */
async function sample(files, k) {
  const quiet = { debug() {}, info() {}, trace() {}, warn: console.warn, isDebugEnabled: () => false, isTraceEnabled: () => false };
  const { mutants } = await new Instrumenter(quiet).instrument(
    files.map((name) => ({ name: join(root, name), mutate: true, content: readFileSync(join(root, name), 'utf8') })),
    { plugins: null, excludedMutations: [], ignorers: [], noHeader: false },
  );
  const ranges = [];
  let chosenCount = 0;
  const live = mutants.filter((m) => m.status === undefined);
  for (const file of files) {
    // Stryker's locations count lines from 0; --mutate ranges from 1.
    const own = live.filter((m) => m.fileName === join(root, file) && m.location.start.line === m.location.end.line);
    const lines = [...new Set(own.map((m) => m.location.start.line + 1))].sort((a, b) => a - b);
    const chosen = new Set(lines.filter((_, i) => i % k === Math.floor(k / 2) % k));
    chosenCount += own.filter((m) => chosen.has(m.location.start.line + 1)).length;
    ranges.push(...[...chosen].map((line) => `${file}:${line}-${line}`));
  }
  return { ranges, note: `${chosenCount} of ${live.length} mutants (every ${k}th line holding one)` };
}

/** Killed / (killed + survived + no coverage) per directory, timeouts counting as killed; then each survivor. */
function scores() {
  const { files } = JSON.parse(readFileSync(join(root, 'reports/stryker-incremental.json'), 'utf8'));
  const survivors = [];
  for (const [name, { files: own }] of Object.entries(DIRECTORIES)) {
    const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
    for (const file of own) {
      const lines = readFileSync(join(root, file), 'utf8').split('\n');
      for (const m of files[file]?.mutants ?? []) {
        if (m.status in count) count[m.status]++;
        if (m.status === 'Survived' || m.status === 'NoCoverage') {
          const line = m.location.start.line;
          survivors.push(`${file}:${line} ${m.status} ${m.mutatorName} ${JSON.stringify(m.replacement ?? '')} | ${lines[line - 1]?.trim()}`);
        }
      }
    }
    const detected = count.Killed + count.Timeout;
    const total = detected + count.Survived + count.NoCoverage;
    const score = total === 0 ? 'not run' : `${((100 * detected) / total).toFixed(1)}%`;
    console.log(`${name.padEnd(9)} ${score.padStart(7)}  ${total} mutants tested: ${count.Killed} killed, ${count.Timeout} timed out, ${count.Survived} survived, ${count.NoCoverage} not covered`);
  }
  console.log(survivors.join('\n'));
}

const args = process.argv.slice(2);
if (args.includes('--scores')) {
  scores();
  process.exit(0);
}
const valueOf = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
const k = Number(valueOf('--sample') ?? 1);
const concurrency = valueOf('--concurrency');
const dry = args.includes('--dry');
const names = args.filter((a, i) => !a.startsWith('--') && !['--sample', '--concurrency'].includes(args[i - 1]));
for (const name of names) if (!(name in DIRECTORIES)) throw new Error(`unknown directory ${name}: one of ${Object.keys(DIRECTORIES).join(', ')}`);
if (!Number.isInteger(k) || k < 1) throw new Error('--sample expects a whole number of lines');

let failed = false;
for (const name of names.length > 0 ? names : Object.keys(DIRECTORIES)) {
  const { files, tests } = DIRECTORIES[name];
  const { ranges, note } = k > 1 ? await sample(files, k) : { ranges: files, note: 'every mutant' };
  const command = ['stryker', 'run', '--mutate', ranges.join(','), '--testFiles', tests.join(','), ...(concurrency ? ['--concurrency', concurrency] : []), ...(args.includes('--force') ? ['--force'] : [])];
  console.log(`mutate ${name}: ${note}`);
  if (dry) {
    console.log(`  npx ${command.map((c) => `'${c}'`).join(' ')}`);
    continue;
  }
  // The fuzz tests draw a seed from the clock unless told: a fixed one keeps a mutant's verdict the same run to run.
  // Stryker's test runners outlive a vitest run, so the suite's own temporary directory is not removed: one here is.
  const temporary = mkdtempSync(join(tmpdir(), 'sft-mutate-'));
  const env = { ...process.env, SFT_FUZZ_SEED: process.env.SFT_FUZZ_SEED ?? '1', TMPDIR: temporary };
  const run = spawnSync('npx', command, { cwd: root, stdio: 'inherit', env });
  rmSync(temporary, { recursive: true, force: true });
  failed ||= run.status !== 0;
}
process.exit(failed ? 1 : 0);
