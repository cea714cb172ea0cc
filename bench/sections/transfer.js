// Transfers over loopback against scp: one big file both ways, scaling with cores, peak RSS by file size, and
// many clients at once (issue 8 goals 1, 2, 4 and 6).
import { basename, dirname, join } from 'node:path';
import { linkSync, mkdirSync, rmSync } from 'node:fs';
import { measured } from '../lib/proc.js';
import { GiB, MiB, empty, expectSize, makeFile, sha256File, sizeLabel, syncDisk } from '../lib/files.js';
import { CIPHER, alternate, clientSide, scp, sftSend, together, withSftServer, withSshd } from '../lib/rounds.js';
import { cpuParts } from '../lib/results.js';

export async function transferBench(ctx) {
  const size = ctx.quick ? 256 * MiB : GiB;
  const dir = join(ctx.work, 'transfer');
  const source = join(dir, 'source');
  mkdirSync(source, { recursive: true });
  const input = join(source, 'input.bin');
  makeFile(input, size);
  const sshd = await ctx.sshd();
  try {
    const unpinned = await oneFile(ctx, sshd, dir, input, size);
    await scaling(ctx, sshd, dir, input, size, unpinned);
    await concurrent(ctx, sshd, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await rssBySize(ctx);
}

/** Cases for sft send and scp up of `input` (pinned when `cpus` has server/client CPU lists). */
function sendCases(ctx, sshd, dir, input, size, cpus = {}, label = '') {
  const inbox = join(dir, 'inbox');
  const scpUp = join(dir, 'scp-up');
  const cases = [{
    name: `sft send${label}`,
    tool: `sft${label}`,
    size,
    run: async () => {
      empty(inbox);
      syncDisk();
      const run = await withSftServer(ctx, inbox, { cpus: cpus.server }, async (server) => {
        const client = await sftSend(ctx, server, [input], { cpus: cpus.client, size });
        return { seconds: client.seconds, client: clientSide(client), suite: client.done?.suite };
      });
      expectSize(join(inbox, basename(input)), size, 'sft send');
      return run;
    },
  }];
  if (sshd.missing === undefined) {
    cases.push({
      name: `scp -c ${CIPHER} (up)${label}`,
      tool: `scp${label}`,
      size,
      run: async () => {
        empty(scpUp);
        syncDisk();
        const run = await withSshd(ctx, sshd, cpus.server, async () => {
          const client = await scp(ctx, sshd, input, `${sshd.login}:${scpUp}/`, { cpus: cpus.client, size });
          return { seconds: client.seconds, client: clientSide(client) };
        });
        expectSize(join(scpUp, basename(input)), size, 'scp');
        return run;
      },
    });
  }
  return cases;
}

/** 1: send and get of one big file against scp up and down, alternating; time, CPU per GiB and peak RSS per side. */
async function oneFile(ctx, sshd, dir, input, size) {
  const section = ctx.results.section(`${sizeLabel(size)} over loopback: sft send / get vs scp -c ${CIPHER} up / down`,
    `${ctx.runs}, files in ${ctx.work}; a fresh \`sft serve\` for each run (default workers; "serve --workers 1" is the server in the command's process, the default on one core); CPU is user + sys of each side's processes (client: the command and its children; server: the \`sft serve\` process tree, or the sshd session processes), peak RSS is the largest process of each side.`);
  const got = join(dir, 'got');
  const scpDown = join(dir, 'scp-down');
  const oneProcess = join(dir, 'inbox-one-process');
  const cases = sendCases(ctx, sshd, dir, input, size);
  // The server in the command's process (the default on one core): its own CPU figure, reported beside the others.
  cases.push({
    name: 'sft send, serve --workers 1',
    tool: 'sft, serve in one process',
    size,
    run: async () => {
      empty(oneProcess);
      syncDisk();
      const run = await withSftServer(ctx, oneProcess, { extra: ['--workers', '1'] }, async (server) => {
        const client = await sftSend(ctx, server, [input], { size });
        return { seconds: client.seconds, client: clientSide(client) };
      });
      expectSize(join(oneProcess, basename(input)), size, 'sft send (serve --workers 1)');
      return run;
    },
  });
  cases.push({
    name: 'sft get',
    tool: 'sft',
    size,
    run: async () => {
      empty(got);
      syncDisk();
      const run = await withSftServer(ctx, dirname(input), { extra: ['--allow-get'] }, async (server) => {
        const client = await measured(['node', ctx.sft, 'get', '--json', basename(input), '--from', `127.0.0.1:${server.port}`, '-o', got], { env: ctx.env, timeoutSeconds: ctx.timeout(size) });
        return { seconds: client.seconds, client: clientSide(client), suite: client.done?.suite };
      });
      expectSize(join(got, basename(input)), size, 'sft get');
      return run;
    },
  });
  if (sshd.missing === undefined) {
    cases.push({
      name: `scp -c ${CIPHER} (down)`,
      tool: 'scp',
      size,
      run: async () => {
        empty(scpDown);
        syncDisk();
        const run = await withSshd(ctx, sshd, undefined, async () => {
          const client = await scp(ctx, sshd, `${sshd.login}:${input}`, `${scpDown}/`, { size });
          return { seconds: client.seconds, client: clientSide(client) };
        });
        expectSize(join(scpDown, basename(input)), size, 'scp down');
        return run;
      },
    });
  } else section.line(`scp comparisons skipped: ${sshd.missing}`);
  const results = await alternate(cases, ctx.repeat);
  const result = (name) => results.find((m) => m.name === name);
  const [send, scpUp, get, scpGet, sendOne] = ['sft send', `scp -c ${CIPHER} (up)`, 'sft get', `scp -c ${CIPHER} (down)`, 'sft send, serve --workers 1'].map(result);
  results.forEach((m) => section.measurement(m));

  // Each copy's content, once: the last run's output of each tool against the source.
  const want = await sha256File(input);
  for (const [who, path] of [['sft send', join(dir, 'inbox')], ['sft send, serve --workers 1', oneProcess], ['scp up', join(dir, 'scp-up')], ['sft get', got], ['scp down', scpDown]]) {
    const copy = join(path, basename(input));
    const ok = await sha256File(copy).then((h) => h === want, () => undefined);
    if (ok === false) throw new Error(`${who}: ${copy} differs from the source`);
    if (ok === true) section.line(`${who}: last copy's SHA-256 matches the source`);
    empty(path);
  }
  if (send.last?.suite !== undefined) section.line(`sft's suite (its default): ${send.last.suite}`);

  const gib = size / GiB;
  const perGiB = (m, side) => (m?.failed === undefined ? m?.[side]?.cpu / gib : undefined);
  const why = (...ms) => sshd.missing ?? ms.find((m) => m?.failed !== undefined)?.failed;
  section.compare({ what: `send ${sizeLabel(size)}: wall time`, ours: send.seconds, theirs: scpUp?.seconds, peer: 'scp', goal: 0.67, why: why(send, scpUp) });
  section.compare({ what: `get ${sizeLabel(size)}: wall time`, ours: get.seconds, theirs: scpGet?.seconds, peer: 'scp', goal: 0.67, why: why(get, scpGet) });
  // CPU per GiB, with its user and system parts (system time moves with the VM's memory state: docs/PERFORMANCE.md).
  const cpuPerGiB = (what, ours, theirs, side, peer, main = true) => section.compare({
    what, ours: perGiB(ours, side), theirs: perGiB(theirs, side), peer, unit: 's/GiB', goal: 1, main, why: why(ours, theirs),
    details: [cpuParts(ours?.[side], gib), cpuParts(theirs?.[side], gib)],
  });
  cpuPerGiB('send: CPU per GiB, receiving side (server)', send, scpUp, 'server', 'sshd');
  cpuPerGiB('send: CPU per GiB, sending side (client)', send, scpUp, 'client', 'scp + ssh');
  cpuPerGiB('get: CPU per GiB, receiving side (client)', get, scpGet, 'client', 'scp + ssh');
  cpuPerGiB('get: CPU per GiB, sending side (server)', get, scpGet, 'server', 'sshd');
  cpuPerGiB('send: CPU per GiB, receiving side (serve --workers 1)', sendOne, scpUp, 'server', 'sshd', false);
  for (const [what, m] of [['send', send], ['get', get]]) {
    for (const side of ['client', 'server']) section.limit({ what: `${what} ${sizeLabel(size)}: peak RSS, ${side}`, value: m[side]?.rssMiB, max: 100, why: m.failed });
  }
  for (const m of [send, scpUp]) if (m?.seconds !== undefined) section.bar(`send ${sizeLabel(size)} over loopback`, m.tool, size / MiB / m.seconds);
  for (const m of [get, scpGet]) if (m?.seconds !== undefined) section.bar(`get (download) ${sizeLabel(size)} over loopback`, m.tool, size / MiB / m.seconds);
  return { send, scpUp };
}

/** 2: the same send with each side pinned (taskset): one core for both, one core each, two each when there are four. */
async function scaling(ctx, sshd, dir, input, size, unpinned) {
  const n = ctx.cpuCount;
  const configs = [{ label: 'both on core 0', server: '0', client: '0' }];
  if (n >= 2) configs.push({ label: 'server core 0, client core 1', server: '0', client: '1' });
  if (n >= 4) configs.push({ label: 'server cores 0-1, client cores 2-3', server: '0-1', client: '2-3' });
  const section = ctx.results.section(`Scaling: ${sizeLabel(size)} send with each side pinned (taskset), ${n} CPUs`,
    `${ctx.runs} per configuration; "unpinned" is the run above (each side may use all ${n} CPUs). The scp server side is pinned by pinning the sshd listener, whose sessions inherit it.`);
  const cases = configs.flatMap((c) => sendCases(ctx, sshd, dir, input, size, c, `, ${c.label}`));
  const results = await alternate(cases, ctx.repeat);
  const rows = [...results, ...[unpinned.send, unpinned.scpUp].filter(Boolean).map((m) => ({ ...m, name: `${m.name}, unpinned`, tool: `${m.tool}, unpinned` }))];
  for (const m of rows) {
    section.measurement(m);
    if (m.seconds !== undefined) section.bar(`send ${sizeLabel(size)}, each side pinned (taskset)`, m.tool, size / MiB / m.seconds);
  }
  for (const c of [...configs, { label: 'unpinned' }]) {
    const [ours, theirs] = [rows.find((m) => m.name === `sft send, ${c.label}`), rows.find((m) => m.name.startsWith('scp') && m.name.endsWith(`, ${c.label}`))];
    section.compare({ what: `send, ${c.label}: wall time`, ours: ours?.seconds, theirs: theirs?.seconds, peer: 'scp', goal: c.label === 'unpinned' ? 0.67 : undefined, main: false, why: sshd.missing ?? ours?.failed ?? theirs?.failed });
  }
}

/** 5: many clients at once to one server, against as many scp at once to one sshd. */
async function concurrent(ctx, sshd, dir) {
  const clients = 8;
  const each = ctx.quick ? 32 * MiB : 256 * MiB;
  const section = ctx.results.section(`Many at once: ${clients} clients × ${sizeLabel(each)} to one server vs ${clients} scp at once`,
    `Aggregate wall time from the first start to the last exit, ${ctx.runs.toLowerCase()}; CPU client is the sum over the ${clients} clients, peak RSS the largest client process.`);
  const files = join(dir, 'many');
  mkdirSync(files, { recursive: true });
  makeFile(join(files, 'f0.bin'), each);
  // One content under eight names (hard links): each client sends its own file name, read from the page cache alike.
  for (let i = 1; i < clients; i++) linkSync(join(files, 'f0.bin'), join(files, `f${i}.bin`));
  const names = Array.from({ length: clients }, (_, i) => `f${i}.bin`);
  const inbox = join(dir, 'many-inbox');
  const scpDest = join(dir, 'many-scp');
  const arrived = (at, who) => names.forEach((name) => expectSize(join(at, name), each, who));
  const cases = [{
    name: `sft send, ${clients} at once`,
    tool: 'sft',
    size: clients * each,
    run: async () => {
      empty(inbox);
      syncDisk();
      const run = await withSftServer(ctx, inbox, {}, (server) => together(() => names.map((name) => sftSend(ctx, server, [join(files, name)], { size: each }))));
      arrived(inbox, 'sft send');
      return run;
    },
  }];
  if (sshd.missing === undefined) {
    cases.push({
      name: `scp, ${clients} at once`,
      tool: 'scp',
      size: clients * each,
      run: async () => {
        empty(scpDest);
        syncDisk();
        const run = await withSshd(ctx, sshd, undefined, () => together(() => names.map((name) => scp(ctx, sshd, join(files, name), `${sshd.login}:${scpDest}/`, { size: each }))));
        arrived(scpDest, 'scp');
        return run;
      },
    });
  }
  const [ours, theirs] = await alternate(cases, ctx.repeat);
  for (const m of [ours, theirs]) {
    if (m === undefined) continue;
    section.measurement(m);
    if (m.seconds !== undefined) section.bar(`${clients} clients × ${sizeLabel(each)} at once, aggregate`, m.tool, m.size / MiB / m.seconds);
  }
  section.compare({ what: `${clients} clients × ${sizeLabel(each)} at once: aggregate wall time`, ours: ours.seconds, theirs: theirs?.seconds, peer: `${clients} × scp`, goal: 1, why: sshd.missing ?? ours.failed ?? theirs?.failed });
}

/** 4: peak RSS of each side as the file grows (one run each, a fresh server each). */
async function rssBySize(ctx) {
  const sizes = ctx.quick ? [MiB, 256 * MiB] : [MiB, GiB, 4 * GiB];
  const section = ctx.results.section('Peak RSS of each side by file size (sft send, one run each)', 'A fresh `sft serve` per size; server figure: the largest process of its tree (VmHWM).');
  const dir = join(ctx.work, 'rss');
  const inbox = join(dir, 'inbox');
  mkdirSync(dir, { recursive: true });
  try {
    for (const size of sizes) {
      const input = join(dir, 'input.bin');
      makeFile(input, size);
      const [m] = await alternate([{
        name: 'sft send',
        size,
        run: async () => {
          empty(inbox);
          syncDisk();
          const run = await withSftServer(ctx, inbox, {}, async (server) => {
            const client = await sftSend(ctx, server, [input], { size });
            return { seconds: client.seconds, client: clientSide(client) };
          });
          expectSize(join(inbox, 'input.bin'), size, 'sft send');
          return run;
        },
      }], 1);
      section.measurement(m);
      if (size === MiB && m.failed === undefined) {
        section.line(`the fixed cost of a session (process start, password KDF, handshake), in every CPU figure above: client ${m.client.cpu.toFixed(2)} s, server ${m.server.cpu.toFixed(2)} s of CPU for 1 MiB`);
      }
      for (const side of ['client', 'server']) section.limit({ what: `peak RSS, ${side}, ${sizeLabel(size)} send`, value: m[side]?.rssMiB, max: 100, why: m.failed });
      rmSync(input, { force: true });
      empty(inbox);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
