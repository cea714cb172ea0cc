// Processes for the bench: each measured command under measure.py (wall, CPU, peak RSS, bounded in time), the
// long-lived services (sft serve, sft relay, sshd) with the CPU and peak RSS of their process tree read from /proc.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MEASURE = fileURLToPath(new URL('../measure.py', import.meta.url));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything still running that the bench started, killed if the bench ends early (error, Ctrl-C). */
const running = new Set();
function killAll() {
  for (const child of running) child.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every process the bench started`);
    for (const child of running) child.kill('SIGTERM');
    setTimeout(() => process.exit(130), 500);
  });
}

/** A JSON object per line of `stream`, to `onEvent`; other lines are ignored. */
function jsonLines(stream, onEvent) {
  createInterface({ input: stream }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    onEvent(event);
  });
}

/**
 * Runs `command` under measure.py and resolves, once it has exited, with its wall time, CPU seconds (user + sys of
 * it and the descendants it waited for, and each part), their minor page faults, peak RSS (the largest such process)
 * and its last `done` JSON event.
 * `onEvent` sees every JSON event it prints while it runs. Rejects when it fails, or after `timeoutSeconds` (its
 * whole process group is killed then, and the message says so).
 */
export function measured(command, { env = process.env, pty = false, timeoutSeconds = 600, onEvent = () => undefined } = {}) {
  const child = spawn('python3', [MEASURE, ...(pty ? ['--pty'] : []), '--timeout', String(timeoutSeconds), '--', ...command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (data) => (stderr = (stderr + data).slice(-2000)));
  let measure;
  let done;
  jsonLines(child.stdout, (event) => {
    if (event.measure !== undefined) measure = event.measure;
    else {
      if (event.event === 'done') done = event;
      onEvent(event);
    }
  });
  // measure.py enforces the timeout; this is the backstop should it hang itself.
  const backstop = setTimeout(() => child.kill('SIGTERM'), (timeoutSeconds + 30) * 1000);
  return new Promise((resolve, reject) => {
    child.once('close', () => {
      clearTimeout(backstop);
      running.delete(child);
      const what = command.join(' ').slice(0, 160);
      const said = stderr.trim().split('\n').slice(-3).join(' | ');
      if (measure === undefined) return reject(new Error(`measure.py gave no result for ${what}: ${said}`));
      if (measure.timedOut) return reject(new Error(`TIMED OUT after ${timeoutSeconds} s, killed: ${what}`));
      if (measure.exitCode !== 0) return reject(new Error(`exit ${measure.exitCode}: ${what}: ${said}`));
      resolve({
        seconds: measure.seconds,
        cpu: measure.userSeconds + measure.systemSeconds,
        user: measure.userSeconds,
        sys: measure.systemSeconds,
        faults: measure.minorFaults,
        rssMiB: measure.maxRssKiB / 1024,
        done,
      });
    });
  });
}

/** /proc/PID/FILE, or '' when the process has ended meanwhile. */
function readProc(pid, file) {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** The live processes of the tree rooted at `pid`, itself first. */
export function processTree(pid) {
  const tree = [];
  const visit = (p) => {
    tree.push(p);
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8');
      } catch {
        // the task ended meanwhile
      }
      for (const child of children.split(' ').filter(Boolean)) visit(Number(child));
    }
  };
  visit(pid);
  return tree;
}

/**
 * CPU seconds (user, sys) and minor page faults so far of the tree at `pid`: each live process's own plus what it
 * collected from the children it reaped (cutime, cstime, cminflt), so a session process that has ended still counts
 * once its parent has waited for it.
 */
export function treeUsage(pid) {
  const usage = { user: 0, sys: 0, faults: 0 };
  for (const p of processTree(pid)) {
    const stat = readProc(p, 'stat');
    if (stat === '') continue;
    // Fields from the third (state) on: minflt, cminflt, utime, stime, cutime, cstime are fields 10, 11, 14-17.
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ').map(Number);
    usage.faults += fields[7] + fields[8];
    usage.user += (fields[11] + fields[13]) / CLK_TCK;
    usage.sys += (fields[12] + fields[14]) / CLK_TCK;
  }
  return usage;
}

/** What the tree at `pid` used between two treeUsage() readings: CPU (user + sys), each part, and page faults. */
export function usageSince(pid, mark) {
  const now = treeUsage(pid);
  const user = now.user - mark.user;
  const sys = now.sys - mark.sys;
  return { cpu: user + sys, user, sys, faults: now.faults - mark.faults };
}

/** CPU seconds (user + sys) used so far by the tree at `pid` (see treeUsage). */
export function treeCpuSeconds(pid) {
  const { user, sys } = treeUsage(pid);
  return user + sys;
}

/** The peak RSS (VmHWM) of the largest process of the tree at `pid`, in MiB. */
export function treePeakRssMiB(pid, { withRoot = true } = {}) {
  let peak = 0;
  for (const p of processTree(pid)) {
    if (!withRoot && p === pid) continue;
    peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(readProc(p, 'status'))?.[1] ?? 0) / 1024);
  }
  return peak;
}

/**
 * Starts a long-lived command that prints JSON events (sft serve, sft relay) and resolves once `ready(event)`
 * holds for one of them (other events may come first, e.g. a warning). Rejects if it exits or is not ready within
 * `timeoutSeconds`. stop() ends it with SIGTERM (SIGKILL 15 s later).
 */
export function startService(command, { env = process.env, ready, timeoutSeconds = 60 }) {
  const child = spawn(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (data) => (stderr = (stderr + data).slice(-2000)));
  const events = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(late);
    }
    running.delete(child);
  };
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      void stop();
      reject(new Error(`${command.slice(0, 4).join(' ')}: ${why} ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutSeconds} s`), timeoutSeconds * 1000);
    void exited.then((code) => fail(`exited with ${code} before it was ready`));
    jsonLines(child.stdout, (event) => {
      events.push(event);
      if (ready(event)) {
        clearTimeout(timer);
        resolve({ pid: child.pid, event, events, stop });
      }
    });
  });
}

/** A free TCP port on 127.0.0.1 (for sshd, which cannot be asked for port 0 and tell). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function have(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Sets the CPU affinity of every thread of `pid` (its future children inherit it). */
export function pinProcess(pid, cpus) {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}
