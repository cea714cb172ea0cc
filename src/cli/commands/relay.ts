import type { Command } from 'commander';
import { DEFAULT_LIMITS, MAX_TIME_MS } from '../../relay/limits.js';
import { RELAY_PORT, RelayServer, type RelayOptions } from '../../relay/server.js';
import { defined, parseInteger, type Context } from '../common.js';
import { formatBytes } from '../reporter.js';
import { stopSignal } from '../stop-signal.js';

/** Time paired rooms get to finish after SIGINT/SIGTERM. */
const GRACE_MS = 10_000;
const MAX_SECONDS = Math.floor(MAX_TIME_MS / 1000);

interface RelayCliOptions {
  host: string;
  port: number;
  json?: boolean;
  maxConnections: number;
  maxPerSource: number;
  maxWaitingRooms: number;
  helloTimeout: number;
  waitTimeout: number;
  maxEarlyBytes: number;
  roomLifetime: number;
  maxRoomBytes: number;
  roomRate: number;
  idleTimeout: number;
  halfOpenGrace: number;
}

const d = DEFAULT_LIMITS;
const int = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) => parseInteger(flag, min, max);

export function relayCommand(program: Command, ctx: Context): void {
  program
    .command('relay')
    .description('join peers who share a code (sft send --relay / sft receive) and copy their encrypted bytes; keeps no files')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', int('--port', 0, 65535), RELAY_PORT)
    .option('--max-connections <n>', 'connections open at once', int('--max-connections', 1), d.maxConnections)
    .option('--max-per-source <n>', 'connections open at once from one IPv4 address or IPv6 /64', int('--max-per-source', 1), d.maxPerSource)
    .option('--max-waiting-rooms <n>', 'rooms with a peer waiting for its partner', int('--max-waiting-rooms', 1), d.maxWaitingRooms)
    .option('--hello-timeout <seconds>', 'time a new connection has to say which room it wants', int('--hello-timeout', 1, MAX_SECONDS), d.helloTimeoutMs / 1000)
    .option('--wait-timeout <seconds>', 'time a peer may wait for its partner', int('--wait-timeout', 1, MAX_SECONDS), d.waitTimeoutMs / 1000)
    .option('--max-early-bytes <bytes>', 'bytes a peer may send before its partner is there', int('--max-early-bytes', 0, 65_536), d.maxEarlyBytes)
    .option('--room-lifetime <seconds>', 'longest life of a paired room (0: none)', int('--room-lifetime', 0, MAX_SECONDS), d.roomLifetimeMs / 1000)
    .option('--max-room-bytes <bytes>', 'bytes one room may move, both directions (0: none)', int('--max-room-bytes', 0), d.maxRoomBytes)
    .option('--room-rate <bytes/s>', 'rate of one room, both directions; faster peers are slowed (0: none)', int('--room-rate', 0), d.roomRate)
    .option('--idle-timeout <seconds>', 'close a paired room with no traffic for this long (0: never)', int('--idle-timeout', 0, MAX_SECONDS), d.idleTimeoutMs / 1000)
    .option('--half-open-grace <seconds>', 'after one side of a room closes, close the other this much later', int('--half-open-grace', 1, MAX_SECONDS), d.halfOpenGraceMs / 1000)
    .option('--json', 'machine-readable output: one JSON object per line on stdout')
    .option('--debug', 'print stack traces on errors')
    .action(async (options: RelayCliOptions) => {
      const relay = new RelayServer(relayOptions(options));
      report(relay, ctx);
      const address = await relay.listen();
      const stopping = stopSignal();
      ctx.out.event({ event: 'listening', ...address, limits: relay.limits });
      ctx.out.info(`relay listening on ${address.host}:${address.port}`);
      const signal = await stopping;
      ctx.out.info(`${signal}: no new connections; waiting up to ${GRACE_MS / 1000} s for paired rooms`);
      await relay.close(GRACE_MS);
      ctx.out.event({ event: 'stopped' });
    });
}

function relayOptions(o: RelayCliOptions): RelayOptions {
  return {
    host: o.host,
    port: o.port,
    ...defined({
      maxConnections: o.maxConnections,
      maxPerSource: o.maxPerSource,
      maxWaitingRooms: o.maxWaitingRooms,
      helloTimeoutMs: o.helloTimeout * 1000,
      waitTimeoutMs: o.waitTimeout * 1000,
      maxEarlyBytes: o.maxEarlyBytes,
      roomLifetimeMs: o.roomLifetime * 1000,
      maxRoomBytes: o.maxRoomBytes,
      roomRate: o.roomRate,
      idleTimeoutMs: o.idleTimeout * 1000,
      halfOpenGraceMs: o.halfOpenGrace * 1000,
    }),
  };
}

function report(relay: RelayServer, { out }: Context): void {
  relay.on('paired', (e) => {
    out.event({ event: 'paired', ...e });
    out.info(`room ${e.nameplate}: paired`);
  });
  relay.on('room-closed', (e) => {
    out.event({ event: 'room-closed', ...e });
    const moved = e.paired ? `, ${formatBytes(e.fromFirst)} one way, ${formatBytes(e.fromSecond)} the other` : ', never paired';
    out.info(`room ${e.nameplate}: closed (${e.reason})${moved}, ${(e.ms / 1000).toFixed(1)} s`);
  });
  relay.on('refused', (e) => {
    out.event({ event: 'refused', ...e });
    out.info(`refused ${e.peer}: ${e.code} (${e.message})`);
  });
}
