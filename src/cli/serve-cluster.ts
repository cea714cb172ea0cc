import cluster, { type Worker } from 'node:cluster';
import { resolve } from 'node:path';
import { SecureServer, type ServerOptions } from '../transfer/server.js';
import type { Reporter } from './reporter.js';

/** Time running transfers get to finish after SIGINT/SIGTERM. */
const GRACE_MS = 10_000;

/**
 * Runs the server in `workers` processes that share the listening socket (node:cluster): each connection is
 * served whole by one process, so concurrent transfers spread over the cores. The password reaches the workers
 * over the IPC channel, never through argv or the environment.
 */
export async function serveWith(workers: number, options: ServerOptions, out: Reporter): Promise<void> {
  if (workers <= 1) {
    await runServer(options, out, true);
    return;
  }
  // Recovery of a killed server's partial files happens once, here, before any worker serves.
  await SecureServer.recover(options.dir, options.partialMaxAge);
  options = { ...options, recover: false };
  const children: Worker[] = [];
  let address: { host: string; port: number } | undefined;
  await new Promise<void>((resolve, reject) => {
    let listening = 0;
    // Every worker asks the primary for the same handle: with port 0, the first one fixes the port for all.
    for (let i = 0; i < workers; i++) {
      const worker = cluster.fork({ SFT_SERVE_WORKER: '1' });
      children.push(worker);
      worker.on('message', (message: { ready?: boolean; listening?: { host: string; port: number }; error?: string }) => {
        if (message.ready === true) worker.send({ options: { ...options, password: Buffer.from(options.password).toString('base64') } });
        if (message.error !== undefined) reject(new Error(message.error));
        if (message.listening !== undefined && ++listening === workers) {
          address = message.listening;
          resolve();
        }
      });
    }
  });
  if (address === undefined) return;
  const dir = resolve(options.dir);
  out.event({ event: 'listening', ...address, dir, workers });
  out.info(`listening on ${address.host}:${address.port}, receiving into ${dir} (${workers} processes)`);
  const signal = await stopSignal();
  out.info(`${signal}: no new connections; waiting up to ${GRACE_MS / 1000} s for running transfers`);
  await Promise.all(children.map((worker) => new Promise((resolve) => {
    worker.once('exit', resolve);
    worker.process.kill('SIGTERM');
  })));
  out.event({ event: 'stopped' });
}

/** The body of a worker process started by serveWith. */
export async function serveWorker(out: Reporter): Promise<void> {
  const received = new Promise<{ options: ServerOptions & { password: string } }>((resolve) => process.once('message', resolve));
  process.send?.({ ready: true });
  const message = await received;
  const options = { ...message.options, password: Buffer.from(message.options.password, 'base64') };
  await runServer(options, out, false);
}

async function runServer(options: ServerOptions, out: Reporter, primary: boolean): Promise<void> {
  const server = new SecureServer(options);
  server.on('file', (f) => {
    out.event({ event: 'received', ...f });
    const resumed = f.resumedFrom === f.size ? ', already stored' : f.resumedFrom > 0 ? `, resumed at ${f.resumedFrom}` : '';
    out.info(`received ${f.storedPath} (${f.size} bytes, sha-256 ${f.sha256}${resumed}) from ${f.peer}`);
  });
  server.on('session-error', (e) => {
    out.event({ event: 'session-error', ...e });
    out.info(`${e.code === 'AUTH_FAILED' ? 'authentication failed' : 'session failed'} from ${e.peer}: ${e.message}`);
  });
  let address;
  try {
    address = await server.listen();
  } catch (error) {
    process.send?.({ error: (error as Error).message });
    throw error;
  }
  if (primary) {
    out.event({ event: 'listening', ...address, dir: server.dir });
    out.info(`listening on ${address.host}:${address.port}, receiving into ${server.dir}`);
  } else {
    process.send?.({ listening: address });
  }
  const signal = await stopSignal();
  if (primary) out.info(`${signal}: no new connections; waiting up to ${GRACE_MS / 1000} s for running transfers`);
  await server.close(GRACE_MS);
  if (primary) out.event({ event: 'stopped' });
  else process.disconnect?.();
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
