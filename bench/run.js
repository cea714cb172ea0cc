// npm run bench [-- --only file|transfer] [-- --quick] [-- --tmpfs (file part: /dev/shm instead of the disk)]
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

/** CPU seconds (user + system) of a measured run, for the reports below. */
const cpu = (r) => r.userSeconds + r.systemSeconds;

/**
 * Runs each command in turn, `repeat` rounds (a, b, a, b, …: write-back of one run's output lands on all alike),
 * each under measure.py; per command the median wall and CPU time and the highest peak RSS.
 */
function alternate(commands, repeat) {
  const runs = commands.map(() => []);
  for (let round = 0; round < repeat; round++) {
    commands.forEach(({ command, pty = false, before = () => undefined }, i) => {
      before();
      const out = execFileSync('python3', [join(root, 'bench/measure.py'), ...(pty ? ['--pty'] : []), '--', ...command], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      runs[i].push(JSON.parse(out.toString()));
    });
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return runs.map((r) => ({
    seconds: median(r.map((x) => x.seconds)),
    userSeconds: median(r.map((x) => x.userSeconds)),
    systemSeconds: median(r.map((x) => x.systemSeconds)),
    rssMiB: Math.max(...r.map((x) => x.maxRssKiB)) / 1024,
    runs: r.map((x) => x.seconds),
  }));
}

function reportCpu(name, size, result) {
  report(name, size, result, `cpu ${cpu(result).toFixed(2)} s (user ${result.userSeconds.toFixed(2)}, sys ${result.systemSeconds.toFixed(2)})`);
}

/** One line per goal: the ratio and whether it is met. */
function verdict(label, ours, theirs, unit = 's') {
  const ratio = ours / theirs;
  console.log(`  ${label.padEnd(44)} sft ${ours.toFixed(2)} ${unit} vs age ${theirs.toFixed(2)} ${unit}: ratio ${ratio.toFixed(2)} ${ratio <= 1 ? 'MET' : 'NOT MET'}`);
}

/**
 * Encryption at rest, beside the age CLI on the same file in the same run, on the real disk (the ext4 /tmp here;
 * --tmpfs for /dev/shm): passphrase (scrypt work factor 18 on both sides), X25519 keys, the Fernet container's
 * memory, and a 4 GiB pipe through sft encrypt -r | sft decrypt -i.
 */
function fileBench() {
  const size = quick ? 256 * MiB : GiB;
  const dir = join(args.includes('--tmpfs') ? base : tmpdir(), `sft-bench-file-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const at = (name) => join(dir, name);
  const rm = (...names) => () => names.forEach((n) => rmSync(at(n), { force: true }));
  try {
    makeFile(at('input.bin'), size);
    const haveAge = have('age') && have('age-keygen');
    console.log(`\n## File encryption: sft vs the age CLI, ${sizeLabel(size)}, files in ${dir}, median of ${REPEAT} alternating runs\n`);
    if (!haveAge) console.log('age CLI not installed: the comparisons below are skipped');

    // Passphrase: scrypt work factor 18 on both sides.
    const encrypt = [{ command: ['node', sft, 'encrypt', '--json', at('input.bin'), '-o', at('s.age')], before: rm('s.age') }];
    if (haveAge) encrypt.push({ command: ['age', '-p', '-o', at('a.age'), at('input.bin')], pty: true, before: rm('a.age') });
    const [sEnc, aEnc] = alternate(encrypt, REPEAT);
    reportCpu('sft encrypt (age format, passphrase)', size, sEnc);
    if (aEnc) reportCpu('age -p', size, aEnc);
    const decrypt = [{ command: ['node', sft, 'decrypt', '--json', at('s.age'), '-o', at('s.out')], before: rm('s.out') }];
    if (haveAge) decrypt.push({ command: ['age', '-d', '-o', at('a.out'), at('a.age')], pty: true, before: rm('a.out') });
    const [sDec, aDec] = alternate(decrypt, REPEAT);
    reportCpu('sft decrypt (age format, passphrase)', size, sDec);
    if (aDec) reportCpu('age -d (passphrase)', size, aDec);
    rm('s.age', 'a.age', 's.out', 'a.out')();

    // X25519 keys, each tool's own.
    execFileSync('node', [sft, 'keygen', '-o', at('sft.key')], { stdio: 'ignore' });
    const sRecipient = execFileSync('node', [sft, 'keygen', '-y', at('sft.key')]).toString().trim();
    const keyed = [{ command: ['node', sft, 'encrypt', '--json', '-r', sRecipient, at('input.bin'), '-o', at('s.age')], before: rm('s.age') }];
    const opened = [{ command: ['node', sft, 'decrypt', '--json', '-i', at('sft.key'), at('s.age'), '-o', at('s.out')], before: rm('s.out') }];
    if (haveAge) {
      execFileSync('age-keygen', ['-o', at('age.key')], { stdio: 'ignore' });
      const aRecipient = execFileSync('age-keygen', ['-y', at('age.key')]).toString().trim();
      keyed.push({ command: ['age', '-r', aRecipient, '-o', at('a.age'), at('input.bin')], before: rm('a.age') });
      opened.push({ command: ['age', '-d', '-i', at('age.key'), '-o', at('a.out'), at('a.age')], before: rm('a.out') });
    }
    const [sKeyEnc, aKeyEnc] = alternate(keyed, REPEAT);
    reportCpu('sft encrypt -r (X25519)', size, sKeyEnc);
    if (aKeyEnc) reportCpu('age -r (X25519)', size, aKeyEnc);
    const [sKeyDec, aKeyDec] = alternate(opened, REPEAT);
    reportCpu('sft decrypt -i (X25519)', size, sKeyDec);
    if (aKeyDec) reportCpu('age -d -i (X25519)', size, aKeyDec);
    rm('s.age', 'a.age', 's.out', 'a.out')();

    if (haveAge) {
      console.log('\nGoals (issue 8 goal 5, issue 11): each ratio sft / age, same file, same run');
      verdict('passphrase encrypt, wall time', sEnc.seconds, aEnc.seconds);
      verdict('passphrase encrypt, CPU (user + sys)', cpu(sEnc), cpu(aEnc));
      verdict('passphrase encrypt, peak RSS', sEnc.rssMiB, aEnc.rssMiB, 'MiB');
      verdict('passphrase decrypt, wall time', sDec.seconds, aDec.seconds);
      verdict('passphrase decrypt, CPU (user + sys)', cpu(sDec), cpu(aDec));
      verdict('passphrase decrypt, peak RSS', sDec.rssMiB, aDec.rssMiB, 'MiB');
      verdict('X25519 encrypt, wall time', sKeyEnc.seconds, aKeyEnc.seconds);
      verdict('X25519 decrypt, wall time', sKeyDec.seconds, aKeyDec.seconds);
      console.log();
    }

    // The Fernet container: peak RSS under 100 MiB (issue 8 goal 4), no forced garbage collection.
    const [fEnc] = alternate([{ command: ['node', sft, 'encrypt', '--json', at('input.bin'), '--format', 'fernet', '-o', at('s.fernet')], before: rm('s.fernet') }], 1);
    reportCpu('sft encrypt --format fernet', size, fEnc);
    const [fDec] = alternate([{ command: ['node', sft, 'decrypt', '--json', at('s.fernet'), '-o', at('f.out')], before: rm('f.out') }], 1);
    reportCpu('sft decrypt (fernet format)', size, fDec);
    console.log(`  fernet peak RSS encrypt ${fEnc.rssMiB.toFixed(0)} MiB, decrypt ${fDec.rssMiB.toFixed(0)} MiB (goal < 100): ${Math.max(fEnc.rssMiB, fDec.rssMiB) < 100 ? 'MET' : 'NOT MET'}`);
    rm('s.fernet', 'f.out')();

    // A tar-like stream: 4 GiB through a pipe, never on disk; the peak RSS is the larger of the two sft processes.
    const times = quick ? 1 : Math.ceil((4 * GiB) / size);
    const cat = Array.from({ length: times }, () => `'${at('input.bin')}'`).join(' ');
    const pipe = `cat ${cat} | node '${sft}' encrypt -r ${sRecipient} | node '${sft}' decrypt -i '${at('sft.key')}' > /dev/null`;
    const [piped] = alternate([{ command: ['bash', '-o', 'pipefail', '-c', pipe] }], 1);
    reportCpu('cat | sft encrypt -r | sft decrypt -i (pipe)', times * size, piped);
    console.log(`  pipe of ${sizeLabel(times * size)}: peak RSS ${piped.rssMiB.toFixed(0)} MiB (flat: the same as for 1 GiB files above)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
