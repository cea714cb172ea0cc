/**
 * `sft serve` with several processes: the primary accepts every connection (paused, nothing read), decides on it
 * with the one Admission of the whole server (per-source caps and penalties in one place), and hands the socket
 * to the worker with the fewest connections; workers run sessions and report how each admission ended. Workers are
 * forked with an explicit environment (no SFT_PASSWORD) and receive the shared password's PRS, never the password.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listenOn } from '../util/listen.js';
import { SecureServer, refuse, type AccountDirectory, type ServerOptions } from '../transfer/server.js';
import { Admission, type AdmissionLimits, type Ticket } from '../transfer/admission.js';
import { SftError } from '../errors.js';
import type { Reporter } from './reporter.js';
import { stopSignal } from './stop-signal.js';

/** Time running transfers get to finish after SIGINT/SIGTERM. */
const GRACE_MS = 10_000;
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface ServeSetup {
  workers: number;
  options: ServerOptions;
  /** The accounts file, opened again by each worker. */
  accountsFile?: string;
  admission: Partial<AdmissionLimits>;
  /** Workers print JSON events too. */
  json: boolean;
}

/** What the primary sends a worker. */
type ToWorker = { type: 'start'; options: ServerOptions; accountsFile?: string } | { type: 'connection'; id: number } | { type: 'stop' };
/** What a worker sends the primary. */
type ToPrimary = { type: 'ready' } | { type: 'started' } | { type: 'failed'; message: string } | { type: 'authenticated'; id: number } | { type: 'closed'; id: number };

/** Runs the server in this process (one worker) or in `workers` processes behind this one, until SIGINT/SIGTERM. */
export async function serveWith(setup: ServeSetup, out: Reporter, openAccounts: (file: string) => Promise<AccountDirectory>): Promise<void> {
  if (setup.workers <= 1) return serveHere(setup, out, openAccounts);
  const listener = createServer({ pauseOnConnect: true });
  await listenOn(listener, setup.options.port ?? 7878, setup.options.host ?? '127.0.0.1');
  // The port is taken first, so that a port in use is the first thing said. Connections that arrive while the
  // workers start are admitted (the caps hold) and wait here; they are handed over once the workers are up.
  const admission = new Admission(setup.admission);
  const early: { socket: Socket; ticket: Ticket }[] = [];
  let handOver = (socket: Socket, ticket: Ticket): void => void early.push({ socket, ticket });
  listener.on('connection', (socket: Socket) => {
    const decision = admission.admit(socket.remoteAddress ?? '?');
    if (!decision.admitted) return refuse(socket, decision.reason);
    handOver(socket, decision.ticket);
  });
  try {
    // The served directory, the recovery of a killed server's partials, and the PRS: once, here.
    const accounts = setup.accountsFile === undefined ? undefined : await openAccounts(setup.accountsFile);
    const primary = new SecureServer({ ...setup.options, ...(accounts === undefined ? {} : { accounts }), recover: true });
    await primary.prepare();
    const options: ServerOptions = { ...setup.options, ...primary.sharedKey(), recover: false, dir: primary.dir };
    delete options.password;
    const workers = await Promise.all(Array.from({ length: setup.workers }, () => startWorker(options, setup.accountsFile, setup.json)));
    const pool = new WorkerPool(workers, out);
    handOver = (socket, ticket) => pool.handOver(socket, ticket);
    for (const { socket, ticket } of early.splice(0)) handOver(socket, ticket);
    const address = listener.address() as { address: string; port: number };
    const stopping = stopSignal();
    out.event({ event: 'listening', host: address.address, port: address.port, dir: primary.dir, workers: setup.workers, mode: mode(setup) });
    out.info(`listening on ${address.address}:${address.port}, ${mode(setup)}, serving ${primary.dir} (${setup.workers} processes)`);
    const signal = await Promise.race([stopping, pool.lost]);
    out.info(`${signal}: no new connections; waiting up to ${GRACE_MS / 1000} s for running transfers`);
    listener.close();
    await pool.stop();
    out.event({ event: 'stopped' });
  } finally {
    listener.close();
    for (const { socket } of early) socket.destroy();
  }
}

/**
 * The running workers, how many connections each serves, and the admission ticket of every connection handed over.
 * A ticket is closed when its worker reports the connection closed, and dropped (no count against its source) when
 * the hand-over fails or the worker dies. A worker that dies is dropped too; the others go on serving, and `lost`
 * rejects when none is left.
 */
class WorkerPool {
  readonly lost: Promise<never>;
  readonly #load = new Map<ChildProcess, number>();
  readonly #held = new Map<number, { ticket: Ticket; worker: ChildProcess }>();
  readonly #out: Reporter;
  #lostAll: (error: Error) => void = () => undefined;
  #nextId = 0;
  #stopping = false;

  constructor(workers: ChildProcess[], out: Reporter) {
    this.#out = out;
    this.lost = new Promise<never>((_, reject) => (this.#lostAll = reject));
    this.lost.catch(() => undefined); // the caller races it; never an unhandled rejection
    for (const worker of workers) {
      worker.on('message', (message: ToPrimary) => this.#heard(message));
      worker.once('exit', (code, signal) => this.#lost(worker, code ?? signal));
      this.#load.set(worker, 0);
    }
    // A worker that died after it started, while the others were still starting, has no 'exit' event to come.
    for (const worker of workers) {
      if (worker.exitCode !== null || worker.signalCode !== null || !worker.connected) this.#lost(worker, worker.exitCode ?? worker.signalCode);
    }
  }

  handOver(socket: Socket, ticket: Ticket): void {
    const worker = [...this.#load.entries()].sort((a, b) => a[1] - b[1])[0]?.[0];
    if (worker === undefined) {
      socket.destroy();
      ticket.dropped();
      return;
    }
    const id = this.#nextId++;
    this.#held.set(id, { ticket, worker });
    this.#load.set(worker, (this.#load.get(worker) ?? 0) + 1);
    worker.send({ type: 'connection', id } satisfies ToWorker, socket, { keepOpen: false }, (error) => {
      if (error === null) return;
      socket.destroy();
      this.#release(id, 'dropped');
      // The channel closes before 'exit' is emitted: stop choosing this worker now.
      if (!worker.connected) this.#lost(worker, 'its channel closed');
    });
  }

  /** Asks every worker to finish its transfers and waits until all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#load.keys()].map((worker) => new Promise((resolve) => {
      worker.once('exit', resolve);
      worker.send({ type: 'stop' } satisfies ToWorker, (error) => error !== null && resolve(undefined));
    })));
  }

  #heard(message: ToPrimary): void {
    if (message.type === 'authenticated') this.#held.get(message.id)?.ticket.authenticated();
    if (message.type === 'closed') this.#release(message.id, 'closed');
  }

  #release(id: number, how: 'closed' | 'dropped'): void {
    const held = this.#held.get(id);
    if (held === undefined) return;
    this.#held.delete(id);
    held.ticket[how]();
    const load = this.#load.get(held.worker);
    if (load !== undefined) this.#load.set(held.worker, load - 1);
  }

  #lost(worker: ChildProcess, how: number | string | null): void {
    if (!this.#load.delete(worker)) return;
    for (const [id, held] of this.#held) if (held.worker === worker) this.#release(id, 'dropped');
    if (this.#stopping) return;
    this.#out.warn(`a server process exited (${typeof how === 'number' ? `code ${how}` : (how ?? 'while starting')}); ${this.#load.size} left`);
    if (this.#load.size === 0) this.#lostAll(new SftError('INTERNAL', 'every server process exited; not serving'));
  }
}

function mode(setup: ServeSetup): string {
  return setup.accountsFile !== undefined ? `accounts from ${setup.accountsFile}` : setup.options.allowGet === true ? 'shared password, send and get' : 'shared password, send only';
}

/**
 * V8's young generation capped at 2 MiB per semi-space (16 MiB by default): receiving 10,000 small files grows it
 * to the default cap, 32 MiB of a worker's peak RSS (108 MiB; 88-91 MiB with the cap, the same CPU within noise).
 * The user's own flags come after and win.
 */
const WORKER_V8_FLAGS = ['--max-semi-space-size=2'];

/** Forks a worker with an environment without secrets and waits until it is ready to take connections. */
function startWorker(options: ServerOptions, accountsFile: string | undefined, json: boolean): Promise<ChildProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'SFT_PASSWORD'));
  const worker = fork(MAIN, json ? ['--json'] : [], { env: { ...env, SFT_SERVE_WORKER: '1' }, execArgv: [...WORKER_V8_FLAGS, ...process.execArgv], serialization: 'advanced', stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    worker.on('message', (message: ToPrimary) => {
      if (message.type === 'ready') worker.send({ type: 'start', options, ...(accountsFile === undefined ? {} : { accountsFile }) } satisfies ToWorker);
      if (message.type === 'started') resolve(worker);
      if (message.type === 'failed') reject(new Error(message.message));
    });
    worker.once('exit', (code) => reject(new Error(`a server process exited with code ${code} while starting`)));
  });
}

/** The body of a worker process: serves the connections the primary hands it. */
export async function serveWorker(out: Reporter, openAccounts: (file: string) => Promise<AccountDirectory>): Promise<void> {
  const send = (message: ToPrimary) => process.send?.(message);
  const start = await new Promise<Extract<ToWorker, { type: 'start' }>>((resolve) => {
    process.on('message', (message: ToWorker) => message.type === 'start' && resolve(message));
    send({ type: 'ready' });
  });
  let server: SecureServer;
  try {
    const accounts = start.accountsFile === undefined ? undefined : await openAccounts(start.accountsFile);
    server = new SecureServer({ ...start.options, ...(accounts === undefined ? {} : { accounts }) });
    await server.prepare();
  } catch (error) {
    send({ type: 'failed', message: (error as Error).message });
    return;
  }
  report(server, out);
  process.on('message', (message: ToWorker, socket?: Socket) => {
    // A socket that closed before the primary could pass it arrives as a message without one.
    if (message.type === 'connection' && socket === undefined) send({ type: 'closed', id: message.id });
    if (message.type === 'connection' && socket !== undefined) {
      server.handle(socket, { authenticated: () => send({ type: 'authenticated', id: message.id }), closed: () => send({ type: 'closed', id: message.id }) });
    }
    if (message.type === 'stop') void server.close(GRACE_MS).then(() => process.disconnect?.());
  });
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  send({ type: 'started' });
}

/** One process: the server listens and admits by itself. */
async function serveHere(setup: ServeSetup, out: Reporter, openAccounts: (file: string) => Promise<AccountDirectory>): Promise<void> {
  const accounts = setup.accountsFile === undefined ? undefined : await openAccounts(setup.accountsFile);
  const server = new SecureServer({ ...setup.options, ...setup.admission, ...(accounts === undefined ? {} : { accounts }) });
  const address = await server.listen();
  report(server, out);
  const stopping = stopSignal();
  out.event({ event: 'listening', ...address, dir: server.dir, workers: 1, mode: mode(setup) });
  out.info(`listening on ${address.host}:${address.port}, ${mode(setup)}, serving ${server.dir}`);
  const signal = await stopping;
  out.info(`${signal}: no new connections; waiting up to ${GRACE_MS / 1000} s for running transfers`);
  await server.close(GRACE_MS);
  out.event({ event: 'stopped' });
}

/** A line per stored or served file and per failed session. */
function report(server: SecureServer, out: Reporter): void {
  const who = (e: { peer: string; account?: string }) => (e.account === undefined ? e.peer : `${e.account}@${e.peer}`);
  server.on('file', (f) => {
    out.event({ event: 'received', ...f });
    if (f.kind === 'directory') return;
    const resumed = f.resumedFrom === f.size ? ', already stored' : f.resumedFrom > 0 ? `, resumed at ${f.resumedFrom}` : '';
    out.info(`received ${f.storedPath} (${f.size} bytes, sha-256 ${f.sha256}${resumed}) from ${who(f)}`);
  });
  server.on('sent', (f) => {
    out.event({ event: 'sent', ...f });
    if (f.kind === 'file') out.info(`sent ${f.path} (${f.size} bytes${f.skipped ? ', already there' : ''}) to ${who(f)}`);
  });
  server.on('session-error', (e) => {
    out.event({ event: 'session-error', peer: e.peer, code: e.code, message: e.message, ...(e.account === undefined ? {} : { account: e.account }) });
    out.info(`${e.code === 'AUTH_FAILED' ? 'authentication failed' : 'session failed'} from ${who(e)}: ${e.message}`);
  });
}
