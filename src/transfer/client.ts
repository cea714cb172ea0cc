import { lstatSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { basename, join, resolve } from 'node:path';
import { AuthError, IntegrityError, InterruptedError, NetworkError, SftError, UsageError } from '../errors.js';
import { FrameType, HANDSHAKE_FRAMES, MAX_BODY } from '../protocol/frames.js';
import { clientFinish, clientHello } from '../protocol/handshake.js';
import {
  LISTING_TYPES, MAGIC, Op, decodeDone, decodeError, decodeListing, decodeNotice, encodeError, encodeRequest,
  type Notice, type Request, type Suite,
} from '../protocol/messages.js';
import { opaqueReady } from '../crypto/opaque.js';
import { printable } from '../util/text.js';
import { Connection, networkWords } from './connection.js';
import { Receiver, type ReceiveSummary, type StoredEntry } from './receiver.js';
import { Sender, type Delivery, type SendEntry, type SendProgress, type SendSummary, type Undelivered } from './sender.js';
import { Session } from './session.js';
import { FileStore } from './store.js';
import { fileError } from '../util/fs-errors.js';

/**
 * The client's default offer: AES-256-GCM first (the faster through node:crypto on processors with AES
 * instructions: 0.71 vs 1.00 CPU-s per GiB here, 256 KiB chunks), then ChaCha20-Poly1305.
 */
export const DEFAULT_SUITES: Suite[] = ['aes-256-gcm', 'chacha20-poly1305'];
/** Entries collect() lists between two turns of the event loop (~10–20 ms of synchronous calls). */
const TURN_ENTRIES = 1000;

export interface ClientOptions {
  password: string;
  /** The account to log in as (servers with accounts); leave out for a shared-password server. */
  account?: string;
  host: string;
  port?: number;
  /** Suites to offer, in order of preference. */
  suites?: Suite[];
  /** Local address to connect from. */
  localAddress?: string;
  /** Connect and handshake timeout, ms. Default 10 s. */
  connectTimeout?: number;
  /**
   * An sft server greets at once: no greeting within this long means it is not one (or is overloaded), ms. Default
   * 3 s: 1 s was tight on a loaded two-core machine (one of 8 clients starting at once timed out in a bench run).
   */
  greetingTimeout?: number;
  /** Drop the session after this long without traffic, ms. Default 60 s. */
  idleTimeout?: number;
  /** Cancels the operation (the CLI's Ctrl-C): it rejects with InterruptedError; received partials are kept. */
  signal?: AbortSignal;
  /** A connection made elsewhere (a relay's paired socket) instead of connecting to host:port. */
  connect?: () => Promise<Socket>;
  onProgress?: (progress: SendProgress) => void;
  onDelivered?: (delivery: Delivery) => void;
  onUndelivered?: (entry: Undelivered, refused: boolean) => void;
  onStored?: (entry: StoredEntry) => void;
  onNotice?: (notice: Notice) => void;
}

export interface SendResult extends SendSummary {
  suite: Suite;
}

export interface GetResult extends ReceiveSummary {
  suite: Suite;
  dir: string;
}

export interface ListEntry {
  name: string;
  type: (typeof LISTING_TYPES)[number];
  size: number;
  /** Modification time, ms since the epoch (ns precision in `mtimeNs`). */
  mtimeMs: number;
  mtimeNs: bigint;
}

/** Sends files to, gets files from, lists and removes files on a SecureServer, one authenticated session each. */
export class SecureClient {
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /**
   * Lists what `paths` name: files as themselves, directories recursively (themselves included, so empty ones
   * arrive too) with their relative paths under the directory's name, as scp -r. Symlinks inside directories are
   * skipped (`onSkip`); named ones are followed.
   * @throws SftError IO for a path that cannot be read (as decrypt's input); UsageError for a named path that is
   *   neither file nor directory.
   */
  static async collect(paths: string[], onSkip?: (path: string, why: string) => void): Promise<SendEntry[]> {
    const entries: SendEntry[] = [];
    // Synchronous calls: ~10–20 µs an entry, against 100–200 µs of CPU and wall time for each one through the thread
    // pool (10,000 files: 0.15–0.21 s instead of 1.3–2.4 s). The event loop gets a turn every TURN_ENTRIES entries.
    let sinceTurn = 0;
    const add = async (source: string, path: string, named: boolean): Promise<void> => {
      if (++sinceTurn === TURN_ENTRIES) {
        sinceTurn = 0;
        await nextTurn();
      }
      let info: BigIntStats;
      try {
        info = named ? statSync(source, { bigint: true }) : lstatSync(source, { bigint: true });
      } catch (error) {
        throw fileError(error, 'read', source);
      }
      const base = { path, mode: Number(info.mode & 0o7777n), mtimeNs: info.mtimeNs };
      if (info.isFile()) {
        entries.push({ ...base, kind: 'file', source, size: Number(info.size) });
      } else if (info.isDirectory()) {
        entries.push({ ...base, kind: 'directory', size: 0 });
        for (const name of readdirSync(source).sort()) await add(join(source, name), `${path}/${name}`, false);
      } else if (named) {
        throw new UsageError(`${source} is not a file or directory`);
      } else {
        onSkip?.(source, info.isSymbolicLink() ? 'a symlink' : 'not a regular file');
      }
    };
    for (const p of paths) await add(p, basename(resolve(p)), true);
    if (entries.length === 0) throw new UsageError('nothing to send');
    return entries;
  }

  /** Sends the entries (into `into` under the server's root); resolves once every one has a matching receipt. */
  async send(entries: SendEntry[], options: { into?: string } = {}): Promise<SendResult> {
    return this.#run({ op: Op.Put, into: options.into ?? '' }, async (session) => {
      const o = this.#options;
      const summary = await new Sender(session, entries, defined({ onProgress: o.onProgress, onDelivered: o.onDelivered, onUndelivered: o.onUndelivered })).run();
      return { ...summary, suite: session.keys.suite };
    });
  }

  /** Gets files and directories into `dir` (created if missing), placed as the server places what it receives. */
  async get(paths: string[], options: { dir?: string } = {}): Promise<GetResult> {
    if (paths.length === 0) throw new UsageError('nothing to get');
    const store = new FileStore(options.dir ?? '.', false);
    await store.init(7 * 24 * 3600 * 1000, false);
    try {
      return await this.#run({ op: Op.Get, paths }, async (session) => {
        const o = this.#options;
        const hooks = defined({ onStored: o.onStored, onNotice: o.onNotice, onFailed: undefined });
        const summary = await new Receiver(session, store, { maxFileSize: Number.MAX_SAFE_INTEGER, maxEntries: 10_000_000 }, hooks).run();
        return { ...summary, suite: session.keys.suite, dir: store.root };
      });
    } finally {
      store.release();
    }
  }

  /** The entries of a remote directory (or the one entry of a file). */
  async list(path = ''): Promise<ListEntry[]> {
    return this.#run({ op: Op.List, path }, async (session) => {
      const entries: ListEntry[] = [];
      for (;;) {
        const frame = await session.next('a listing');
        if (frame.type === FrameType.Listing) {
          for (const e of decodeListing(frame.body)) {
            entries.push({ name: printable(e.name), type: LISTING_TYPES[e.type], size: e.size, mtimeNs: e.mtimeNs, mtimeMs: Number(e.mtimeNs / 1_000_000n) });
          }
        } else if (frame.type === FrameType.Done) {
          if (decodeDone(frame.body).entries !== entries.length) throw new IntegrityError('TAMPERED', 'the listing is incomplete');
          return entries;
        } else throw new IntegrityError('MALFORMED', 'expected a listing');
      }
    });
  }

  /** Removes remote files and empty directories; resolves to how many were removed and why the others were not. */
  async remove(paths: string[]): Promise<{ removed: number; notices: Notice[] }> {
    return this.#run({ op: Op.Delete, paths }, async (session) => {
      const notices: Notice[] = [];
      for (;;) {
        const frame = await session.next('the result');
        if (frame.type === FrameType.Notice) notices.push(decodeNotice(frame.body));
        else if (frame.type === FrameType.Done) return { removed: decodeDone(frame.body).entries, notices: notices.map((n) => ({ ...n, message: printable(n.message) })) };
        else throw new IntegrityError('MALFORMED', 'expected the result');
      }
    });
  }

  /** Connects, authenticates, sends the request, runs `work`, and closes, whatever happens. */
  async #run<T>(request: Request, work: (session: Session) => Promise<T>): Promise<T> {
    const o = this.#options;
    const aborted = () => o.signal?.aborted === true;
    if (aborted()) throw new InterruptedError();
    const socket = await (o.connect ?? (() => this.#connect()))();
    const abort = () => socket.destroy(new InterruptedError());
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      const session = await this.#handshake(socket);
      session.send(FrameType.Request, encodeRequest(request));
      const result = await work(session);
      socket.end();
      return result;
    } catch (error) {
      if (aborted()) throw new InterruptedError();
      throw error;
    } finally {
      o.signal?.removeEventListener('abort', abort);
      socket.destroy();
    }
  }

  /** Every address the host name resolves to is tried in turn (IPv6 and IPv4, "happy eyeballs"). */
  #connect(): Promise<Socket> {
    const { host, port = 7878, connectTimeout = 10_000, localAddress } = this.#options;
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolvePromise, reject) => {
      const socket = connect({ host, port, autoSelectFamily: true, ...(localAddress === undefined ? {} : { localAddress }) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new NetworkError('TIMEOUT', `connecting to ${where} timed out`));
      }, connectTimeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolvePromise(socket);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = (error as { errors?: NodeJS.ErrnoException[] }).errors?.[0] ?? error;
        reject(new NetworkError('NETWORK', `cannot connect to ${where}: ${networkWords(why)}`));
      });
    });
  }

  async #handshake(socket: Socket): Promise<Session> {
    const o = this.#options;
    const { host, port = 7878, connectTimeout = 10_000, idleTimeout = 60_000 } = o;
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    socket.setNoDelay(true);
    const first = await firstBytes(socket, o.greetingTimeout ?? 3000, where);
    const conn = new Connection(socket, HANDSHAKE_FRAMES.fromServer, first);
    socket.resume();
    socket.setTimeout(idleTimeout, () => conn.fail(new NetworkError('TIMEOUT', 'idle timeout')));
    const timer = setTimeout(() => conn.fail(new NetworkError('TIMEOUT', `the handshake with ${where} timed out`)), connectTimeout);
    try {
      const greeting = await expectServer(conn, FrameType.Greeting, 'the greeting');
      if (o.account !== undefined) await opaqueReady();
      const pending = await clientHello(greeting, { password: o.password, ...(o.account === undefined ? {} : { account: o.account }) }, o.suites ?? DEFAULT_SUITES);
      conn.send(FrameType.ClientHello, [pending.helloBody]);
      const serverHello = await expectServer(conn, FrameType.ServerHello, 'the server hello');
      let finished;
      try {
        finished = clientFinish(pending, serverHello);
      } catch (error) {
        if (error instanceof AuthError) conn.send(FrameType.Error, [encodeError({ code: 'AUTH_FAILED', message: 'authentication failed' })]);
        throw error;
      }
      conn.send(FrameType.ClientFinish, [finished.body]);
      return new Session(conn, finished.keys, 'client');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Before authentication the server's Error text is not shown (anyone on the path could have written it). */
const REFUSAL_WORDS: Record<string, string> = {
  REFUSED: 'the server refused the connection (too many connections or failed attempts from this address, or its limits); try again later',
  UNSUPPORTED: 'the server does not support what this client asked for (protocol version or cipher suites)',
  MALFORMED: 'the server could not read this client\'s handshake (another sft version?)',
  TIMEOUT: 'the server timed the handshake out',
};

async function expectServer(conn: Connection, type: FrameType, what: string): Promise<Buffer> {
  const frame = await conn.expect(what);
  if (frame.type === FrameType.Error) {
    const { code } = decodeError(frame.body);
    throw new NetworkError('NETWORK', REFUSAL_WORDS[code] ?? `the server ended the handshake (unauthenticated error code ${printable(code, 32)})`);
  }
  if (frame.type !== type) throw new IntegrityError('MALFORMED', `expected ${what}`);
  return frame.body;
}

/**
 * The server's first bytes, read before framing: an sft server greets at once, so silence, or bytes that are not
 * an sft frame, mean something else listens there; name what, when it is a common protocol.
 */
function firstBytes(socket: Socket, timeoutMs: number, where: string): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      settle();
    };
    const onData = (data: Buffer) => finish(() => {
      const error = notSft(data, where);
      if (error === undefined) resolvePromise(data);
      else reject(error);
    });
    const onClose = () => finish(() => reject(new NetworkError('NETWORK', `${where} closed the connection without a word: not an sft server, or it refused this address`)));
    const timer = setTimeout(() => finish(() => reject(new NetworkError('TIMEOUT', `no sft greeting from ${where} within ${timeoutMs / 1000} s: is an sft server listening there?`))), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

function notSft(data: Buffer, where: string): SftError | undefined {
  const text = data.subarray(0, 8).toString('latin1');
  const what = text.startsWith('HTTP/') ? 'an HTTP server' : text.startsWith('SSH-') ? 'an SSH server' : data[0] === 0x15 || data[0] === 0x16 ? 'a TLS server' : undefined;
  if (what !== undefined) return new NetworkError('NETWORK', `${where} is ${what}, not an sft server`);
  if (data.length < 5) return undefined;
  const length = data.readUInt32BE(0);
  const type = data[4];
  const greeting = type === FrameType.Greeting && length - 1 <= MAX_BODY[FrameType.Greeting] && (data.length < 5 + MAGIC.length || data.subarray(5, 5 + MAGIC.length).equals(MAGIC));
  const error = type === FrameType.Error && length - 1 <= MAX_BODY[FrameType.Error];
  if (greeting || error) return undefined;
  if (type === FrameType.Greeting) return new NetworkError('NETWORK', `${where} speaks another version of the sft protocol: upgrade the older side`);
  return new NetworkError('NETWORK', `${where} answered with bytes that are not the sft protocol: not an sft server`);
}

/** Drops undefined values, for exactOptionalPropertyTypes. */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

