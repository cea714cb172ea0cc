// The servers the transfer comparisons run against: `sft serve`, `sft relay` and a throwaway sshd, all on
// 127.0.0.1, each with a way to read the CPU time and peak RSS of its side while it is still running.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setInterval, clearInterval } from 'node:timers';
import { freePort, pinProcess, processTree, sleep, startService, treeCpuSeconds, treePeakRssMiB, treeUsage, usageSince } from './proc.js';

/** `taskset -c CPUS` before a command, or nothing when `cpus` is undefined (unpinned). */
export const pinned = (cpus, command) => (cpus === undefined ? command : ['taskset', '-c', cpus, ...command]);

/**
 * A fresh `sft serve` (one per measured run, so its peak RSS is that run's). `side()` returns the CPU seconds its
 * process tree used since the call before (or since start) and its peak RSS: read while it still runs.
 */
export async function startSftServer(ctx, dir, { cpus, extra = [] } = {}) {
  const service = await startService(pinned(cpus, ['node', ctx.sft, 'serve', '--port', '0', '--dir', dir, '--json', ...extra]), {
    env: ctx.env,
    ready: (event) => event.event === 'listening',
  });
  const weak = service.events.find((event) => event.event === 'warning');
  if (weak !== undefined) console.log(`  sft serve warned: ${weak.message}`);
  let mark = treeUsage(service.pid);
  return {
    port: service.event.port,
    workers: service.event.workers ?? 1,
    stop: service.stop,
    /** Call before a run: its CPU counts from here. */
    startRun: () => (mark = treeUsage(service.pid)),
    /** Call after the client exited, before stop(): CPU and page faults since startRun, peak RSS of the largest process. */
    endRun: async () => {
      await settle(() => treeCpuSeconds(service.pid));
      return { ...usageSince(service.pid, mark), rssMiB: treePeakRssMiB(service.pid) };
    },
  };
}

/** `sft relay` on a free port. */
export async function startRelay(ctx, extra = []) {
  const service = await startService(['node', ctx.sft, 'relay', '--port', '0', '--json', ...extra], { env: ctx.env, ready: (event) => event.event === 'listening' });
  return { port: service.event.port, pid: service.pid, events: service.events, stop: service.stop };
}

/** Waits until `read()` stops growing (a server finishing a fsync or a log line after the client left), ≤ 2 s. */
async function settle(read) {
  let last = read();
  for (let i = 0; i < 10; i++) {
    await sleep(200);
    const now = read();
    if (now === last) return;
    last = now;
  }
}

/**
 * A throwaway sshd on a free loopback port, for scp and rsync, logging in as the current user with a key made
 * here; undefined (and why) when openssh-server is missing or it does not start.
 */
export async function startSshd(ctx) {
  if (!existsSync('/usr/sbin/sshd')) return { missing: 'openssh-server not installed (/usr/sbin/sshd)' };
  const dir = join(ctx.work, 'ssh');
  mkdirSync(dir, { recursive: true });
  try {
    mkdirSync('/run/sshd', { recursive: true });
  } catch {
    // not root: sshd may still run without privilege separation's directory
  }
  for (const name of ['host', 'client']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const port = await freePort();
  writeFileSync(join(dir, 'config'), [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'pid')}`,
    'PermitRootLogin prohibit-password', 'Subsystem sftp internal-sftp', 'MaxStartups 64'].join('\n') + '\n');
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'config')], { stdio: 'ignore' });
  const options = ['-i', join(dir, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
  const login = `${userInfo().username}@127.0.0.1`;
  const stop = () => sshd.kill();
  for (let i = 0; i < 50; i++) {
    if (spawnSync('ssh', [...options, '-p', String(port), login, 'true']).status === 0) return { port, options, login, pid: sshd.pid, stop, ...sessions(sshd.pid) };
    await sleep(100);
  }
  stop();
  return { missing: 'sshd did not start' };
}

/**
 * The server side of scp and rsync: the sshd session processes under the listener, forked per connection and gone
 * when it closes. Their CPU reaches the listener's cutime/cstime once it reaps them, so a run's CPU is the growth
 * of the listener's total between two moments with no session alive; their peak RSS is sampled every 100 ms
 * (VmHWM only grows, so a sample misses at most the last 100 ms of a session).
 */
function sessions(listener) {
  let mark;
  let peak = 0;
  let sampler;
  const idle = async () => {
    for (let i = 0; i < 100 && processTree(listener).length > 1; i++) await sleep(50);
    if (processTree(listener).length > 1) throw new Error('sshd sessions still running 5 s after the client exited');
  };
  return {
    startRun: async () => {
      await idle();
      mark = treeUsage(listener);
      peak = 0;
      sampler = setInterval(() => (peak = Math.max(peak, treePeakRssMiB(listener, { withRoot: false }))), 100);
    },
    endRun: async () => {
      try {
        peak = Math.max(peak, treePeakRssMiB(listener, { withRoot: false }));
        await idle();
      } finally {
        clearInterval(sampler);
      }
      return { ...usageSince(listener, mark), rssMiB: peak };
    },
    /** Pins the listener, and so the sessions it forks from now on, to `cpus` (all CPUs: undefined). */
    pin: (cpus, all) => pinProcess(listener, cpus ?? all),
  };
}
