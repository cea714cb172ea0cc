// Alternating runs and their medians, and the measured run of each tool (sft, scp, rsync) with both sides' figures.
import { performance } from 'node:perf_hooks';
import { measured } from './proc.js';
import { pinned, startSftServer } from './services.js';

/** Client-side figures of a measured run: CPU (user + sys of it and its children, and each part), page faults, peak RSS. */
export const clientSide = (run) => ({ cpu: run.cpu, user: run.user, sys: run.sys, faults: run.faults, rssMiB: run.rssMiB });

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/**
 * Runs each case in turn for `repeat` rounds (a, b, c, a, b, c, …: write-back and the machine's noise land on all
 * alike). Each case's `run()` resolves with {seconds, client: {cpu, user, sys, faults, rssMiB}, server?: (the same),
 * ...}; per case the result is the median time, each side's figures from its run of median CPU and its highest peak
 * RSS, or `failed` with why when a run failed or hung (that case then sits out the later rounds).
 */
export async function alternate(cases, repeat) {
  const samples = cases.map(() => []);
  const failed = cases.map(() => undefined);
  for (let round = 0; round < repeat; round++) {
    for (const [i, c] of cases.entries()) {
      if (failed[i] !== undefined) continue;
      try {
        samples[i].push(await c.run());
      } catch (error) {
        failed[i] = error.message;
        console.log(`  ${c.name}: ${error.message}`);
      }
    }
  }
  return cases.map((c, i) => summarize(c, samples[i], failed[i]));
}

function summarize(c, samples, failed) {
  const base = { name: c.name, tool: c.tool ?? c.name, size: c.size, note: c.note };
  if (failed !== undefined) return { ...base, failed };
  // CPU and its parts from one run, the one of median CPU (so that user + sys add up to the CPU shown).
  const side = (key) => (samples[0][key] === undefined ? undefined : {
    ...samples.map((s) => s[key]).sort((a, b) => a.cpu - b.cpu)[Math.floor((samples.length - 1) / 2)],
    rssMiB: Math.max(...samples.map((s) => s[key].rssMiB)),
  });
  const last = samples.at(-1);
  return { ...base, seconds: median(samples.map((s) => s.seconds)), runs: samples.map((s) => s.seconds), client: side('client'), server: side('server'), last };
}

/**
 * Runs `work(server)` against a fresh `sft serve` (one per run: its peak RSS is this run's), reading the server's
 * CPU and peak RSS after the work and before stopping it.
 */
export async function withSftServer(ctx, dir, options, work) {
  const server = await startSftServer(ctx, dir, options);
  try {
    server.startRun();
    const result = await work(server);
    return { ...result, server: await server.endRun() };
  } finally {
    await server.stop();
  }
}

/** Runs `work()` (scp or rsync clients) with the sshd listener pinned to `cpus`, measuring its sessions. */
export async function withSshd(ctx, sshd, cpus, work) {
  sshd.pin(cpus, ctx.allCpus);
  try {
    await sshd.startRun();
    const outcome = await work().then((value) => ({ value }), (error) => ({ error }));
    const server = await sshd.endRun();
    if (outcome.error !== undefined) throw outcome.error;
    return { ...outcome.value, server };
  } finally {
    sshd.pin(undefined, ctx.allCpus);
  }
}

/** `sft send PATHS --to` the server, as a user runs it (pinned when `cpus` is set). */
export function sftSend(ctx, server, paths, { cpus, size, files = 1 } = {}) {
  return measured(pinned(cpus, ['node', ctx.sft, 'send', '--json', ...paths, '--to', `127.0.0.1:${server.port}`]), { env: ctx.env, timeoutSeconds: ctx.timeout(size, files) });
}

/** ssh's options as one string, for rsync -e and the like. */
const sshCommand = (sshd) => ['ssh', '-c', CIPHER, '-p', String(sshd.port), ...sshd.options].join(' ');
export const CIPHER = 'aes256-gcm@openssh.com';

export function scp(ctx, sshd, from, to, { cpus, size, files = 1, recursive = false } = {}) {
  return measured(pinned(cpus, ['scp', '-q', ...(recursive ? ['-r'] : []), '-c', CIPHER, '-P', String(sshd.port), ...sshd.options, from, to]), { timeoutSeconds: ctx.timeout(size, files) });
}

/** rsync -a over ssh; with `fsync`, the receiving rsync fsyncs every file it writes (rsync >= 3.2.4). */
export function rsync(ctx, sshd, from, to, { size, files = 1, fsync = false } = {}) {
  return measured(['rsync', '-a', ...(fsync ? ['--fsync'] : []), '-e', sshCommand(sshd), from, to], { timeoutSeconds: ctx.timeout(size, files) });
}

/**
 * Starts the measured runs `start()` returns, all at once: wall time from the start to the last exit, CPU (and its
 * parts) and page faults summed over them, the largest peak RSS.
 */
export async function together(start) {
  const began = performance.now();
  const runs = await Promise.all(start());
  const seconds = (performance.now() - began) / 1000;
  return {
    seconds,
    client: { ...Object.fromEntries(['cpu', 'user', 'sys', 'faults'].map((key) => [key, runs.reduce((n, r) => n + r[key], 0)])), rssMiB: Math.max(...runs.map((r) => r.rssMiB)) },
    runs,
  };
}
