// npm run bench [-- --only file|transfer] [-- --quick]
// Every comparison runs in the same invocation, on the same files, so ratios hold on a noisy machine.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
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

const REPEAT = args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) : quick ? 1 : 3;

/**
 * Runs a command under bench/measure.py `repeat` times (calling `before` ahead of each run, to remove outputs):
 * the median wall time and the highest peak RSS.
 */
export function measure(command, { pty = false, repeat = 1, before = () => undefined } = {}) {
  const runs = [];
  for (let i = 0; i < repeat; i++) {
    before();
    const out = execFileSync('python3', [join(root, 'bench/measure.py'), ...(pty ? ['--pty'] : []), '--', ...command], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    runs.push(JSON.parse(out.toString()));
  }
  const times = runs.map((r) => r.seconds).sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)], rssMiB: Math.max(...runs.map((r) => r.maxRssKiB)) / 1024, runs: times };
}

/** Removes what is inside `dir`, keeping `dir` (a running server's inbox). */
function empty(dir) {
  if (existsSync(dir)) for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
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
export function report(name, size, { seconds, rssMiB, runs }, note = '') {
  const throughput = size > 0 ? `${(size / MiB / seconds).toFixed(0)} MiB/s` : '';
  if (runs !== undefined && runs.length > 1) note = `${note} median of ${runs.map((t) => t.toFixed(2)).join(', ')} s`.trim();
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
  const rm = (name) => () => rmSync(out(name), { force: true });
  const sEnc = measure(['node', sft, 'encrypt', '--json', input, '-o', out('s.age')], { repeat: REPEAT, before: rm('s.age') });
  report('sft encrypt --format age', size, sEnc);
  let aEnc;
  let aDec;
  if (have('age')) {
    aEnc = measure(['age', '-p', '-o', out('a.age'), input], { pty: true, repeat: REPEAT, before: rm('a.age') });
    report('age -p (encrypt)', size, aEnc);
  } else console.log('age CLI not installed: comparison skipped');
  const sDec = measure(['node', sft, 'decrypt', '--json', out('s.age'), '-o', out('s.out')], { repeat: REPEAT, before: rm('s.out') });
  report('sft decrypt (age format)', size, sDec);
  if (have('age')) {
    aDec = measure(['age', '-d', '-o', out('a.out'), out('a.age')], { pty: true, repeat: REPEAT, before: rm('a.out') });
    report('age -d (decrypt)', size, aDec);
    console.log(`\nratio sft/age: encrypt ${(sEnc.seconds / aEnc.seconds).toFixed(2)}, decrypt ${(sDec.seconds / aDec.seconds).toFixed(2)} (target <= 1.0); peak RSS sft ${Math.max(sEnc.rssMiB, sDec.rssMiB).toFixed(0)} MiB vs age ${Math.max(aEnc.rssMiB, aDec.rssMiB).toFixed(0)} MiB\n`);
  }
  report('sft encrypt --format fernet', size, measure(['node', sft, 'encrypt', '--json', input, '--format', 'fernet', '-o', out('s.fernet')]));
  report('sft decrypt (fernet format)', size, measure(['node', sft, 'decrypt', '--json', out('s.fernet'), '-o', out('f.out')]));
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
        report(`sft encrypt --format ${format}`, s, measure(['node', sft, 'encrypt', '--json', at('input.bin'), '--format', format, '-o', at('sealed')]));
        report(`sft decrypt (${format} format)`, s, measure(['node', sft, 'decrypt', '--json', at('sealed'), '-o', at('output')]));
        rmSync(at('sealed'));
        rmSync(at('output'));
      }
    }
  } finally {
    rmSync(disk, { recursive: true, force: true });
  }
}

/** A throwaway sshd on a high loopback port, for scp and rsync; undefined when openssh-server is missing. */
async function startSshd() {
  if (!existsSync('/usr/sbin/sshd')) return undefined;
  const dir = join(work, 'ssh');
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  for (const name of ['host', 'client']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const port = 20000 + (process.pid % 20000);
  writeFileSync(join(dir, 'config'), [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'pid')}`, 'PermitRootLogin prohibit-password', 'Subsystem sftp internal-sftp'].join('\n') + '\n');
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'config')], { stdio: 'ignore' });
  const options = ['-i', join(dir, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
  for (let i = 0; i < 50; i++) {
    if (spawnSync('ssh', [...options, '-p', String(port), 'root@127.0.0.1', 'true']).status === 0) return { port, options, stop: () => sshd.kill() };
    await sleep(100);
  }
  sshd.kill();
  console.log('sshd did not start: scp and rsync comparisons skipped');
  return undefined;
}

/** `sft serve` in the background; returns its port and a stop() that reports the peak RSS of its processes. */
async function startSftServer(dir, extra = []) {
  const child = spawn('node', [sft, 'serve', '--port', '0', '--dir', dir, '--json', ...extra], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(d.toString().split('\n')[0])));
  const { port } = JSON.parse(line);
  return {
    port,
    stop: async () => {
      const pids = [child.pid, ...spawnSync('pgrep', ['-P', String(child.pid)]).stdout.toString().split('\n').filter(Boolean).map(Number)];
      const peak = Math.max(...pids.map((pid) => {
        const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : '';
        return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      }));
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      return peak;
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function transferBench() {
  const size = quick ? 256 * MiB : GiB;
  console.log(`\n## ${sizeLabel(size)} over loopback: sft send vs scp -c aes256-gcm@openssh.com vs socat (files in ${work})\n`);
  const input = join(work, 'input.bin');
  makeFile(input, size);
  const sshd = await startSshd();
  const inbox = join(work, 'inbox');
  const server = await startSftServer(inbox);
  const sends = {};
  for (const suite of ['aes-256-gcm', 'chacha20-poly1305']) {
    // The inbox is emptied before each run: a file already there would be skipped, not sent.
    sends[suite] = measure(['node', sft, 'send', '--json', input, '--to', `127.0.0.1:${server.port}`, '--suite', suite], { repeat: REPEAT, before: () => empty(inbox) });
    report(`sft send (${suite})`, size, sends[suite]);
  }
  const serverPeak = await server.stop();
  let scp;
  if (sshd) {
    scp = measure(['scp', '-q', '-c', 'aes256-gcm@openssh.com', '-P', String(sshd.port), ...sshd.options, input, `root@127.0.0.1:${join(work, 'scp.out')}`], { repeat: REPEAT, before: () => rmSync(join(work, 'scp.out'), { force: true }) });
    report('scp -c aes256-gcm@openssh.com', size, scp);
    rmSync(join(work, 'scp.out'), { force: true });
  } else console.log('openssh-server not installed: scp comparison skipped');
  if (have('socat')) {
    const port = 40000 + (process.pid % 10000);
    const receiver = spawn('socat', ['-u', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, `OPEN:${join(work, 'socat.out')},creat,trunc`]);
    await sleep(300);
    const done = new Promise((resolve) => receiver.once('exit', resolve));
    const started = performance.now();
    measure(['socat', '-u', `OPEN:${input}`, `TCP:127.0.0.1:${port}`]);
    await done;
    report('socat (plain TCP copy, no crypto)', size, { seconds: (performance.now() - started) / 1000, rssMiB: 0 });
    rmSync(join(work, 'socat.out'), { force: true });
  } else console.log('socat not installed: comparison skipped');
  if (scp) console.log(`\nratio sft (default, chacha20-poly1305) / scp: ${(sends['chacha20-poly1305'].seconds / scp.seconds).toFixed(2)}, aes-256-gcm / scp: ${(sends['aes-256-gcm'].seconds / scp.seconds).toFixed(2)} (target <= 0.67); sft server peak RSS ${serverPeak.toFixed(0)} MiB\n`);
  rmSync(input, { force: true });

  const count = quick ? 2000 : 10_000;
  console.log(`\n## ${count} files of 4 KiB in one session: sft send vs rsync -a over ssh\n`);
  const small = join(work, 'small');
  mkdirSync(small);
  const block = Buffer.alloc(4096);
  for (let i = 0; i < count; i++) {
    randomFillSync(block);
    writeFileSync(join(small, `f${String(i).padStart(5, '0')}.bin`), block);
  }
  const server2 = await startSftServer(join(work, 'inbox2'));
  const sftSmall = measure(['node', sft, 'send', '--json', small, '--to', `127.0.0.1:${server2.port}`], { repeat: REPEAT, before: () => empty(join(work, 'inbox2')) });
  report(`sft send (${count} x 4 KiB)`, count * 4096, sftSmall);
  await server2.stop();
  if (sshd && have('rsync')) {
    const rsync = measure(['rsync', '-a', '-e', `ssh -p ${sshd.port} ${sshd.options.join(' ')}`, `${small}/`, `root@127.0.0.1:${join(work, 'rsync-dest')}/`], { repeat: REPEAT, before: () => rmSync(join(work, 'rsync-dest'), { recursive: true, force: true }) });
    report(`rsync -a over ssh (${count} x 4 KiB)`, count * 4096, rsync);
    console.log(`\nratio sft / rsync: ${(sftSmall.seconds / rsync.seconds).toFixed(2)} (target <= 1.0)\n`);
  } else console.log('rsync or sshd missing: rsync comparison skipped');
  rmSync(small, { recursive: true, force: true });
  sshd?.stop();

  console.log('\n## Peak RSS of both sides by file size\n');
  for (const s of quick ? [MiB, 256 * MiB] : [MiB, GiB, 4 * GiB]) {
    makeFile(input, s);
    const srv = await startSftServer(join(work, 'inbox3'), ['--workers', '1']);
    const client = measure(['node', sft, 'send', '--json', input, '--to', `127.0.0.1:${srv.port}`]);
    const serverRss = await srv.stop();
    report('sft send: client', s, client);
    report('sft serve: server', s, { seconds: client.seconds, rssMiB: serverRss });
    rmSync(join(work, 'inbox3'), { recursive: true, force: true });
    rmSync(input, { force: true });
  }
}

const sections = { file: fileBench, transfer: transferBench };
try {
  console.log(`sft bench, node ${process.version}, ${new Date().toISOString()}, files in ${work}`);
  console.log(`${'what'.padEnd(52)} ${'size'.padStart(8)} ${'time'.padStart(10)} ${'throughput'.padStart(11)} ${'peak RSS'.padStart(12)}`);
  for (const [name, fn] of Object.entries(sections)) if (only === undefined || only === name) await fn();
} finally {
  rmSync(work, { recursive: true, force: true });
}
