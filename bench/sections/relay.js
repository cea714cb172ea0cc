// Through the relay (issue 10): `sft send` → `sft relay` → `sft receive` against `sft send --to` directly, same
// file, same run; and the relay's peak RSS with 50 rooms at once.
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { measured, treePeakRssMiB } from '../lib/proc.js';
import { startRelay } from '../lib/services.js';
import { GiB, MiB, empty, expectSize, makeFile, sha256File, sizeLabel, syncDisk } from '../lib/files.js';
import { alternate, clientSide, sftSend, withSftServer } from '../lib/rounds.js';

export async function relayBench(ctx) {
  const size = ctx.quick ? 256 * MiB : GiB;
  const section = ctx.results.section(`${sizeLabel(size)} through a local sft relay vs sft send --to directly`,
    `${ctx.runs}. Relay: wall time from starting \`sft send --relay\` to the exit of both peers (the receiver starts as soon as the code is printed); client = sender, server = receiver. Direct: \`sft send --to\` a fresh \`sft serve\`, wall time of the client.`);
  const dir = join(ctx.work, 'relay');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'input.bin');
  makeFile(input, size);
  const received = join(dir, 'received');
  const inbox = join(dir, 'inbox');
  const relay = await startRelay(ctx);
  const paths = new Set();
  try {
    const cases = [{
      name: 'sft send → sft relay → sft receive',
      tool: 'sft through the relay',
      size,
      run: async () => {
        empty(received);
        syncDisk();
        const run = await relayed(ctx, relay, input, received, size);
        paths.add(run.path);
        expectSize(join(received, 'input.bin'), size, 'sft receive');
        return run;
      },
    }, {
      name: 'sft send --to (direct)',
      tool: 'sft send --to',
      size,
      run: async () => {
        empty(inbox);
        syncDisk();
        const run = await withSftServer(ctx, inbox, {}, async (server) => {
          const began = performance.now();
          const client = await sftSend(ctx, server, [input], { size });
          return { seconds: (performance.now() - began) / 1000, client: clientSide(client) };
        });
        expectSize(join(inbox, 'input.bin'), size, 'sft send --to');
        return run;
      },
    }];
    const [viaRelay, direct] = await alternate(cases, ctx.repeat);
    const relayPeak = treePeakRssMiB(relay.pid);
    for (const m of [viaRelay, direct]) {
      section.measurement(m);
      if (m.seconds !== undefined) section.bar(`${sizeLabel(size)} through a relay vs direct`, m.tool, size / MiB / m.seconds);
    }
    const want = await sha256File(input);
    for (const [who, copy] of [['sft receive', join(received, 'input.bin')], ['sft send --to', join(inbox, 'input.bin')]]) {
      const ok = await sha256File(copy).then((h) => h === want, () => undefined);
      if (ok === false) throw new Error(`${who}: ${copy} differs from the source`);
      if (ok === true) section.line(`${who}: last copy's SHA-256 matches the source`);
    }
    section.line(`path the sender reported: ${[...paths].join('; ') || 'none'}; relay process peak RSS over these runs ${relayPeak.toFixed(1)} MiB`);
    const direct_ = [...paths].some((p) => !/relay/.test(p ?? '')) ? 'the peers did not go through the relay' : undefined;
    section.compare({ what: `${sizeLabel(size)} through the relay: wall time`, ours: direct_ === undefined ? viaRelay.seconds : undefined, theirs: direct.seconds, peer: 'sft send --to', goal: 1.3, why: direct_ ?? viaRelay.failed ?? direct.failed });
  } finally {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  await rooms(ctx, section);
}

/** One person-to-person transfer: the sender's code, given to a receiver started at once; both measured. */
async function relayed(ctx, relay, input, received, size) {
  const at = `127.0.0.1:${relay.port}`;
  const began = performance.now();
  const settled = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));
  let receiver;
  const sender = settled(measured(['node', ctx.sft, 'send', '--json', input, '--relay', at], {
    env: ctx.env,
    timeoutSeconds: ctx.timeout(size),
    onEvent: (event) => {
      if (event.event === 'code' && receiver === undefined) {
        receiver = settled(measured(['node', ctx.sft, 'receive', event.code, '--relay', at, '-o', received, '--json'], { env: ctx.env, timeoutSeconds: ctx.timeout(size) }));
      }
    },
  }));
  const sent = await sender;
  const got = receiver === undefined ? { error: new Error('the sender printed no code') } : await receiver;
  const seconds = (performance.now() - began) / 1000;
  if (sent.error !== undefined) throw sent.error;
  if (got.error !== undefined) throw got.error;
  return { seconds, client: clientSide(sent.value), server: clientSide(got.value), path: sent.value.done?.path };
}

/** Issue 10: 50 rooms at once through one relay, each moving data both ways; the relay's peak RSS. */
async function rooms(ctx, section) {
  const count = 50;
  const mib = ctx.quick ? 2 : 8;
  const { roomsLoad } = await import('../relay.js');
  let load;
  try {
    load = await roomsLoad(count, mib);
    load.relay.child.kill('SIGTERM');
    section.line(`${count} rooms × ${mib} MiB each way at once through one relay: ${load.seconds.toFixed(2)} s, all complete; relay peak RSS ${load.peakMiB.toFixed(1)} MiB (highest sample ${load.sampledMiB.toFixed(1)} MiB)`);
  } catch (error) {
    section.line(`${count} rooms at once: FAILED: ${error.message}`);
  }
  section.limit({ what: `relay peak RSS, ${count} rooms at once`, value: load?.peakMiB, max: 100, why: load === undefined ? 'failed' : undefined });
}
