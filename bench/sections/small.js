// Many small files on the real disk: sft send against rsync -a over ssh (and, for reference, rsync -a --fsync,
// which fsyncs files but not directories, and scp -r), issue 8 goal 3; the peak RSS of each side at 10,000 files
// (goal 4); sft get of the same tree (issue 7).
import { basename, join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { MiB, expectTree, makeTree, syncDisk, treeDigest } from '../lib/files.js';
import { measured } from '../lib/proc.js';
import { alternate, clientSide, rsync, scp, sftSend, withSftServer, withSshd } from '../lib/rounds.js';

export async function smallBench(ctx) {
  const sshd = await ctx.sshd();
  const sets = ctx.quick
    ? [{ count: 2_000, dirs: 20, label: '4 KiB', size: () => 4096, scp: true }, { count: 10_000, dirs: 100, label: '0–1 KiB', size: spread }]
    : [{ count: 10_000, dirs: 100, label: '4 KiB', size: () => 4096, scp: true }, { count: 100_000, dirs: 1_000, label: '0–1 KiB', size: spread }];
  // Every set's copies stay until the section ends: on ext4 without a journal, a create scans past the inodes freed
  // in the last 60 s (up to 6 minutes while their inode table is dirty), so deleting the first set's copies made
  // every create of the next set slower, for sft and rsync alike.
  try {
    for (const set of sets) await smallSet(ctx, sshd, set);
  } finally {
    rmSync(join(ctx.work, 'small'), { recursive: true, force: true });
  }
}

/** Sizes 0 to 1024 bytes, spread evenly (a fixed sequence, so every run makes the same tree). */
const spread = (i) => (i * 7919) % 1025;

async function smallSet(ctx, sshd, { count, dirs, label, size, scp: withScp }) {
  const dir = join(ctx.work, 'small', String(count));
  const tree = join(dir, `files-${count}`);
  mkdirSync(tree, { recursive: true });
  const bytes = makeTree(tree, count, dirs, size);
  const name = basename(tree);
  const section = ctx.results.section(`${count.toLocaleString('en')} files of ${label} in ${dirs} directories: sft send vs rsync -a over ssh`,
    `${ctx.runs}, files in ${ctx.work}; every run receives into a new directory and nothing is deleted between runs (on this ext4 without a journal, files deleted in the last minute or more make every create scan past their inodes: emptying the previous copy first made rsync's runs 1.8 s → 6.3 s). sft fsyncs each file before its receipt (and each directory it links files into); rsync -a and scp do not fsync; rsync -a --fsync fsyncs every file it writes (not directories), one after the other. ssh uses the same cipher for all (aes256-gcm@openssh.com).`);
  // A new directory per run; the last run's copy of each tool is checked against the source below.
  const runs = new Map();
  const fresh = (tool) => {
    runs.set(tool, (runs.get(tool) ?? 0) + 1);
    mkdirSync(dest(tool));
  };
  const dest = (tool) => join(dir, `to-${tool}-${runs.get(tool) ?? 0}`);
  const files = count;
  const cases = [{
    name: `sft send (${count} × ${label})`,
    tool: 'sft',
    size: bytes,
    run: async () => {
      fresh('sft');
      syncDisk();
      const run = await withSftServer(ctx, dest('sft'), {}, async (server) => {
        const client = await sftSend(ctx, server, [tree], { size: bytes, files });
        return { seconds: client.seconds, client: clientSide(client) };
      });
      expectTree(join(dest('sft'), name), tree, 'sft send');
      return run;
    },
  }];
  if (label === '4 KiB') {
    // Issue 7: the same tree downloaded with sft get arrives identical, in about send's time.
    cases.push({
      name: `sft get (${count} × ${label})`,
      tool: 'sft get',
      size: bytes,
      run: async () => {
        fresh('sft-get');
        syncDisk();
        const run = await withSftServer(ctx, dir, { extra: ['--allow-get'] }, async (server) => {
          const client = await measured(['node', ctx.sft, 'get', '--json', name, '--from', `127.0.0.1:${server.port}`, '-o', dest('sft-get')], { env: ctx.env, timeoutSeconds: ctx.timeout(bytes, count) });
          return { seconds: client.seconds, client: clientSide(client) };
        });
        expectTree(join(dest('sft-get'), name), tree, 'sft get');
        return run;
      },
    });
  }
  if (sshd.missing === undefined) {
    for (const fsync of [false, true]) {
      const [tool, key] = fsync ? ['rsync -a --fsync', 'rsync-fsync'] : ['rsync -a', 'rsync'];
      cases.push({
        name: `${tool} over ssh (${count} × ${label})`,
        tool,
        size: bytes,
        run: async () => {
          fresh(key);
          syncDisk();
          const run = await withSshd(ctx, sshd, undefined, async () => {
            const client = await rsync(ctx, sshd, tree, `${sshd.login}:${dest(key)}/`, { size: bytes, files, fsync });
            return { seconds: client.seconds, client: clientSide(client) };
          });
          expectTree(join(dest(key), name), tree, tool);
          return run;
        },
      });
    }
    if (withScp) {
      cases.push({
        name: `scp -r (${count} × ${label}), reference`,
        tool: 'scp -r',
        size: bytes,
        run: async () => {
          fresh('scp');
          syncDisk();
          const run = await withSshd(ctx, sshd, undefined, async () => {
            const client = await scp(ctx, sshd, tree, `${sshd.login}:${dest('scp')}/`, { size: bytes, files, recursive: true });
            return { seconds: client.seconds, client: clientSide(client) };
          });
          expectTree(join(dest('scp'), name), tree, 'scp -r');
          return run;
        },
      });
    }
  } else section.line(`rsync and scp comparisons skipped: ${sshd.missing}`);
  const measuredCases = await alternate(cases, ctx.repeat);
  const ours = measuredCases[0];
  const [get, theirs, durable, reference] = ['sft get', 'rsync -a', 'rsync -a --fsync', 'scp -r'].map((tool) => measuredCases.find((m) => m?.tool === tool));
  for (const m of measuredCases) {
    if (m === undefined) continue;
    section.measurement({ ...m, files: count });
    if (m.seconds !== undefined) section.bar(`${count.toLocaleString('en')} files of ${label} (files per second)`, m.tool, count / m.seconds, `${(count / m.seconds).toFixed(0)} files/s, ${(bytes / MiB / m.seconds).toFixed(1)} MiB/s`);
  }
  // Content, once per set: the last run's tree of each tool against the source.
  const want = treeDigest(tree);
  for (const tool of ['sft', 'sft-get', 'rsync', 'rsync-fsync', 'scp']) {
    const copy = join(dest(tool), name);
    let digest;
    try {
      digest = treeDigest(copy);
    } catch {
      continue; // that tool did not run
    }
    if (digest !== want) throw new Error(`${tool}: ${copy} differs from the source`);
    section.line(`${tool}: every file of the last copy matches the source (SHA-256 over paths and contents)`);
  }
  section.compare({ what: `${count.toLocaleString('en')} files of ${label}: wall time`, ours: ours.seconds, theirs: theirs?.seconds, peer: 'rsync -a', goal: 1, why: sshd.missing ?? ours.failed ?? theirs?.failed });
  section.compare({ what: `${count.toLocaleString('en')} files of ${label}: wall time, vs rsync -a --fsync (files fsynced)`, ours: ours.seconds, theirs: durable?.seconds, peer: 'rsync -a --fsync', why: sshd.missing ?? ours.failed ?? durable?.failed });
  if (get?.seconds !== undefined) section.compare({ what: `${count.toLocaleString('en')} files of ${label}: sft get vs sft send`, ours: get.seconds, theirs: ours.seconds, peer: 'sft send', goal: 1.1, main: false });
  if (reference?.seconds !== undefined) section.compare({ what: `${count.toLocaleString('en')} files of ${label}: wall time, vs scp -r`, ours: ours.seconds, theirs: reference.seconds, peer: 'scp -r', main: false });
  if (label === '4 KiB') {
    for (const side of ['client', 'server']) section.limit({ what: `peak RSS, ${side}, ${count.toLocaleString('en')} files`, value: ours[side]?.rssMiB, max: 100, why: ours.failed });
  }
}
