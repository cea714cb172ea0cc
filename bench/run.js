// npm run bench [-- --only file|transfer] [-- --quick]
// Every comparison runs in the same invocation, on the same files, so ratios hold on a noisy machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sft = join(root, 'dist/cli/main.js');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const quick = args.includes('--quick');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
// tmpfs when there is room, so both sides of every comparison are measured on CPU, not on disk write-back.
const shm = '/dev/shm';
const base = existsSync(shm) && statfsSync(shm).bavail * statfsSync(shm).bsize > 12 * 1024 ** 3 ? shm : tmpdir();
const work = join(base, `sft-bench-${process.pid}`);
const password = 'bench-Password-correct-horse-7';
const env = { ...process.env, SFT_PASSWORD: password };
mkdirSync(work, { recursive: true });

export function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Runs a command under bench/measure.py: wall seconds and the command's peak RSS. */
export function measure(command, { pty = false } = {}) {
  const out = execFileSync('python3', [join(root, 'bench/measure.py'), ...(pty ? ['--pty'] : []), '--', ...command], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const { seconds, maxRssKiB } = JSON.parse(out.toString());
  return { seconds, rssMiB: maxRssKiB / 1024 };
}

export function makeFile(path, size) {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let done = 0; done < size; done += block.length) {
    randomFillSync(block);
    writeSync(fd, block, 0, Math.min(block.length, size - done));
  }
  closeSync(fd);
}

const rows = [];
export function report(name, size, { seconds, rssMiB }, note = '') {
  const throughput = size > 0 ? `${(size / MiB / seconds).toFixed(0)} MiB/s` : '';
  rows.push({ name, size, seconds, rssMiB, note });
  console.log(`${name.padEnd(52)} ${sizeLabel(size).padStart(8)} ${seconds.toFixed(3).padStart(8)} s ${throughput.padStart(11)} ${rssMiB.toFixed(1).padStart(8)} MiB  ${note}`);
}

export function sizeLabel(size) {
  return size >= GiB ? `${size / GiB} GiB` : size >= MiB ? `${size / MiB} MiB` : `${size} B`;
}

function fileBench() {
  console.log('\n## File encryption (sft CLI vs age CLI, passphrase, scrypt work factor 18 on both sides)\n');
  const size = quick ? 256 * MiB : GiB;
  const input = join(work, 'input.bin');
  makeFile(input, size);
  const out = (name) => join(work, name);
  const clean = () => ['s.age', 's.out', 'a.age', 'a.out', 's.fernet', 'f.out'].forEach((n) => rmSync(out(n), { force: true }));
  clean();
  const sEnc = measure(['node', sft, 'encrypt', input, '-o', out('s.age')]);
  report('sft encrypt --format age', size, sEnc);
  let aEnc;
  let aDec;
  if (have('age')) {
    aEnc = measure(['age', '-p', '-o', out('a.age'), input], { pty: true });
    report('age -p (encrypt)', size, aEnc);
  } else console.log('age CLI not installed: comparison skipped');
  const sDec = measure(['node', sft, 'decrypt', out('s.age'), '-o', out('s.out')]);
  report('sft decrypt (age format)', size, sDec);
  if (have('age')) {
    aDec = measure(['age', '-d', '-o', out('a.out'), out('a.age')], { pty: true });
    report('age -d (decrypt)', size, aDec);
    console.log(`\nratio sft/age: encrypt ${(sEnc.seconds / aEnc.seconds).toFixed(2)}, decrypt ${(sDec.seconds / aDec.seconds).toFixed(2)} (target <= 1.0); peak RSS sft ${Math.max(sEnc.rssMiB, sDec.rssMiB).toFixed(0)} MiB vs age ${Math.max(aEnc.rssMiB, aDec.rssMiB).toFixed(0)} MiB\n`);
  }
  report('sft encrypt --format fernet', size, measure(['node', sft, 'encrypt', input, '--format', 'fernet', '-o', out('s.fernet')]));
  report('sft decrypt (fernet format)', size, measure(['node', sft, 'decrypt', out('s.fernet'), '-o', out('f.out')]));
  clean();

  rmSync(input, { force: true });

  // On disk, not tmpfs: three 4 GiB files at once would take half the machine's memory.
  console.log('\n## Memory does not grow with the file (peak RSS; files on disk)\n');
  const disk = join(tmpdir(), `sft-bench-mem-${process.pid}`);
  mkdirSync(disk, { recursive: true });
  const at = (name) => join(disk, name);
  try {
    for (const s of quick ? [MiB, GiB] : [MiB, GiB, 4 * GiB]) {
      makeFile(at('input.bin'), s);
      for (const format of s > GiB ? ['age'] : ['age', 'fernet']) {
        report(`sft encrypt --format ${format}`, s, measure(['node', sft, 'encrypt', at('input.bin'), '--format', format, '-o', at('sealed')]));
        report(`sft decrypt (${format} format)`, s, measure(['node', sft, 'decrypt', at('sealed'), '-o', at('output')]));
        rmSync(at('sealed'));
        rmSync(at('output'));
      }
    }
  } finally {
    rmSync(disk, { recursive: true, force: true });
  }
}

const sections = { file: fileBench };
try {
  console.log(`sft bench, node ${process.version}, ${new Date().toISOString()}, files in ${work}`);
  console.log(`${'what'.padEnd(52)} ${'size'.padStart(8)} ${'time'.padStart(10)} ${'throughput'.padStart(11)} ${'peak RSS'.padStart(12)}`);
  for (const [name, fn] of Object.entries(sections)) if (only === undefined || only === name) await fn();
} finally {
  rmSync(work, { recursive: true, force: true });
}
