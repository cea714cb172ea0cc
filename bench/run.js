// npm run bench [-- --only file,transfer,small,relay] [-- --quick] [-- --tmpfs] [-- --repeat N]
// sft's speed and memory beside the peer tools (age, scp, rsync over a throwaway sshd), every comparison in the same
// invocation with alternating runs, so the ratios hold on a noisy machine. It runs the built CLI (dist/cli/main.js)
// as a user would. Files live on the real disk under the temporary directory (/tmp), or on /dev/shm with --tmpfs.
// Prints as it goes, then writes bench/results/latest.md and latest.svg (--quick: quick.md and quick.svg; --only: only-<sections>.md
// and .svg, so that a partial run leaves the full one in place).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GiB, MiB } from './lib/files.js';
import { Results } from './lib/results.js';
import { startSshd } from './lib/services.js';
import { fileBench } from './sections/file.js';
import { relayBench } from './sections/relay.js';
import { smallBench } from './sections/small.js';
import { transferBench } from './sections/transfer.js';

const SECTIONS = { file: fileBench, transfer: transferBench, small: smallBench, relay: relayBench };

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = option('--only')?.split(',') ?? Object.keys(SECTIONS);
const unknown = only.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) {
  console.error(`--only: unknown section ${unknown.join(', ')} (choose from ${Object.keys(SECTIONS).join(', ')}, comma-separated)`);
  process.exit(2);
}
const quick = args.includes('--quick');
const tmpfs = args.includes('--tmpfs');
if (tmpfs && !existsSync('/dev/shm')) {
  console.error('--tmpfs: /dev/shm does not exist here');
  process.exit(2);
}
const base = tmpfs ? '/dev/shm' : tmpdir();
const work = join(base, `sft-bench-${process.pid}`);
const sft = join(root, 'dist/cli/main.js');
if (!existsSync(sft)) {
  console.error(`${sft} is missing: run npm run build first (npm run bench does)`);
  process.exit(2);
}
const cpuCount = availableParallelism();
const repeat = Number(option('--repeat') ?? (quick ? 1 : 3));

let sshd;
const ctx = {
  sft,
  // A strong password (no weak-password warning), in the environment of the sft processes only.
  env: { ...process.env, SFT_PASSWORD: 'bench-Password-correct-horse-7' },
  work,
  quick,
  repeat,
  /** How each figure was taken, for the section notes. */
  runs: repeat === 1 ? 'One run' : `Median of ${repeat} alternating runs`,
  cpuCount,
  allCpus: `0-${cpuCount - 1}`,
  results: new Results(),
  /** Seconds a run may take before it is killed: generous, only there so that nothing hangs the bench. */
  timeout: (bytes, files = 1) => Math.round(120 + bytes / (4 * MiB) + files * 0.02),
  /** The throwaway sshd, started once for the sections that need it. */
  sshd: async () => (sshd ??= await startSshd(ctx)),
};

/**
 * What the kernel does with idle and free memory, as both move system time between runs (docs/PERFORMANCE.md): a
 * DAMON scheme that pages out memory hardly accessed for a while (so a file not read for that long may be read from
 * disk again), and free page reporting to a hypervisor (so the first touch of a freed page costs a fault on the host).
 */
function memoryReclaim() {
  const read = (path) => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const list = (path) => (existsSync(path) ? readdirSync(path).filter((name) => /^\d+$/.test(name)) : []);
  const facts = [];
  const kdamonds = '/sys/kernel/mm/damon/admin/kdamonds';
  for (const k of list(kdamonds)) {
    const state = read(`${kdamonds}/${k}/state`);
    if (state === undefined) facts.push('DAMON state not readable');
    if (state !== 'on') continue;
    for (const c of list(`${kdamonds}/${k}/contexts`)) {
      const context = `${kdamonds}/${k}/contexts/${c}`;
      const aggregationUs = Number(read(`${context}/monitoring_attrs/intervals/aggr_us`));
      for (const n of list(`${context}/schemes`)) {
        const scheme = `${context}/schemes/${n}`;
        if (read(`${scheme}/action`) !== 'pageout') continue;
        const ageSeconds = (Number(read(`${scheme}/access_pattern/age/min`)) * aggregationUs) / 1e6;
        facts.push(`DAMON pages out memory hardly accessed for ${Number.isFinite(ageSeconds) ? `${ageSeconds} s` : 'a while'}`);
      }
    }
  }
  // The order of the blocks reported, once a reporting device (a virtio balloon) has registered; 2^32 - 1 before.
  const order = Number(read('/sys/module/page_reporting/parameters/page_reporting_order'));
  if (Number.isInteger(order) && order < 64) facts.push(`free page reporting to the hypervisor (blocks of ${4 * 2 ** order} KiB)`);
  return facts.length > 0 ? facts.join('; ') : 'no DAMON pageout or free page reporting seen';
}

/** The facts a reader needs to weigh the figures. */
function machine() {
  const version = (command, ...flags) => {
    const run = spawnSync(command, flags);
    return run.status === null || run.error ? 'not installed' : `${run.stdout}${run.stderr}`.trim().split('\n')[0];
  };
  const mount = spawnSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE', '-T', base]).stdout?.toString().trim() || '?';
  const device = /^\/dev\/([a-z]+)/.exec(mount)?.[1];
  const rotational = device !== undefined && existsSync(`/sys/block/${device}/queue/rotational`) ? (execFileSync('cat', [`/sys/block/${device}/queue/rotational`]).toString().trim() === '1' ? ', rotational' : ', not rotational') : '';
  const git = (...a) => spawnSync('git', ['-C', root, ...a]).stdout?.toString().trim();
  const dirty = git('status', '--porcelain', '--', 'src') ? ' plus uncommitted changes in src/' : '';
  const free = statfsSync(base);
  return [
    ['date', new Date().toISOString()],
    ['code measured', `${git('rev-parse', '--short', 'HEAD') || '?'}${dirty} (${sft})`],
    ['machine', `${cpuCount} CPUs (${cpus()[0]?.model ?? '?'}), ${(free.blocks * free.bsize / GiB).toFixed(0)} GiB file system`],
    ['files in', `${work} on ${mount}${rotational}${tmpfs ? ' (--tmpfs)' : ''}`],
    ['load average at start', loadavg().map((l) => l.toFixed(2)).join(', ')],
    ['memory reclaim', memoryReclaim()],
    ['Node', process.version],
    ['peers', [version('ssh', '-V'), version('rsync', '--version'), `age ${version('age', '--version')}`].join('; ')],
    ['options', `${quick ? '--quick (smaller sizes), ' : ''}sections ${only.join(', ')}, ${ctx.runs.toLowerCase()} per figure`],
  ];
}

mkdirSync(work, { recursive: true });
const meta = machine();
console.log(`sft bench\n${meta.map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
console.log('each run: what, size, time (median), throughput, CPU seconds client / server, peak RSS client / server, minor page faults client / server');
const freeGiB = (statfsSync(base).bavail * statfsSync(base).bsize) / GiB;
if (freeGiB < (quick ? 3 : 12)) console.log(`warning: only ${freeGiB.toFixed(1)} GiB free under ${base}; the bench may run out of space`);
let failures = 0;
try {
  for (const name of only) {
    try {
      await SECTIONS[name](ctx);
    } catch (error) {
      failures++;
      console.log(`\nsection ${name} FAILED: ${error.message}`);
      ctx.results.section(`${name}: failed`).line(error.message);
    }
  }
} finally {
  sshd?.stop?.();
  rmSync(work, { recursive: true, force: true });
}
// A partial run (--only) does not replace the full run's results.
const name = quick ? 'quick' : args.includes('--only') ? `only-${only.join('-')}` : 'latest';
const subtitle = `${meta[0][1].slice(0, 10)}, ${meta[2][1]}, Node ${process.version}${quick ? ', --quick' : ''}`;
ctx.results.write(join(root, 'bench/results'), name, meta, subtitle);
if (failures > 0) process.exitCode = 1;
