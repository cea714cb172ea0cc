import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { AuthError, IntegrityError, NetworkError, SftError, UsageError } from '../errors.js';
import { opaqueReady } from '../crypto/opaque.js';
import { DEFAULT_ITERATIONS } from '../crypto/pbkdf2.js';
import { FrameType, HANDSHAKE_FRAMES, encodeFrame } from '../protocol/frames.js';
import { passwordCredentials, serverFinish, serverGreeting, serverRespond, type ServerCredentials } from '../protocol/handshake.js';
import { Mode, Op, SUITE_NAMES, decodeError, decodeRequest, encodeDone, encodeError, encodeListing, encodeNotice, type ListingEntry, type Request, type Suite } from '../protocol/messages.js';
import { Admission, Semaphore, type AdmissionLimits, type Ticket } from './admission.js';
import { Connection } from './connection.js';
import { Receiver, type StoredEntry } from './receiver.js';
import { collectRemote, listRemote, removeRemote, usage } from './remote-files.js';
import { Sender, type Delivery } from './sender.js';
import { Session, asSftError } from './session.js';
import { FileStore } from './store.js';
import { safeDirectory } from './paths.js';
import { listenOn } from '../util/listen.js';
import { resolveHome, type Account, type Permission } from './accounts.js';

export type { Account, Permission } from './accounts.js';

/** Where the server finds accounts: an AccountStore (src/transfer/accounts.ts), or anything of this shape. */
export interface AccountDirectory {
  readonly serverSetup: string;
  lookup(name: string): Account | undefined;
}

export interface ServerOptions {
  /** Shared-password mode: everyone who knows it may send (and get, list with allowGet). */
  password?: string | Uint8Array;
  /** Shared-password mode with the PRS already derived (see sharedKey()): worker processes never see the password. */
  passwordKey?: PasswordKey;
  /** Accounts mode (OPAQUE): each account is confined to its home under `dir`, with its own permissions. */
  accounts?: AccountDirectory;
  /** The served directory: the inbox (shared password), or where the homes are (accounts). Created if missing. */
  dir: string;
  host?: string;
  /** 0 picks a free port (see address()). Default 7878. */
  port?: number;
  /** Replace existing files atomically instead of storing under a unique name. */
  overwrite?: boolean;
  /** Shared-password mode: also allow get and ls of the inbox. */
  allowGet?: boolean;
  /** Cipher suites accepted, in the server's order of preference. Default: all. */
  suites?: Suite[];
  /** PBKDF2 iterations of the server's PRS in shared-password mode (run once, at start). Default 600,000. */
  iterations?: number;
  /** Largest file accepted, bytes. Default 1 TiB. */
  maxFileSize?: number;
  /** Most entries in one session. Default 1,000,000. */
  maxFiles?: number;
  /** Time allowed from connect to completed handshake, ms. Default 10 s. */
  handshakeTimeout?: number;
  /** A session with no traffic for this long is dropped, ms. Default 60 s. */
  idleTimeout?: number;
  /** Concurrent connections; more are refused at accept. Default 1024. */
  maxConnections?: number;
  /** Unauthenticated connections from one source (IPv4 address or IPv6 /64). Default 8. */
  maxUnauthenticatedPerSource?: number;
  /** Handshakes computing at once; more wait (within the handshake timeout). Default 16. */
  maxHandshakes?: number;
  /** Connections from one source that end without authenticating before it is refused for a while. Default 5. */
  failuresBeforeBackoff?: number;
  /** The longest a source is refused, ms; the wait starts at 1 s and doubles per further failure. Default 5 min. */
  maxBackoff?: number;
  /** Partial files kept for resuming are removed after this long, ms. Default 7 days. */
  partialMaxAge?: number;
  /**
   * At listen(), park the partial files a killed server left so they can be resumed. Default true. Set false when
   * several servers share the directory, and call SecureServer.recover() once before they start.
   */
  recover?: boolean;
}

/** The shared password's PRS with the salt and PBKDF2 count it was derived with (a password equivalent: keep it secret). */
export interface PasswordKey {
  prs: Buffer;
  salt: Buffer;
  iterations: number;
}

export interface ReceivedFile extends StoredEntry {
  peer: string;
  account?: string;
}

export interface ServedFile extends Delivery {
  peer: string;
  account?: string;
}

export interface ServerEvents {
  /** A file or directory was verified, stored and acknowledged. */
  file: [ReceivedFile];
  /** A file was sent to a client (get) and its receipt verified. */
  sent: [ServedFile];
  /** A session failed (authentication, integrity, limits, network); `code` is the SftError code. */
  'session-error': [{ peer: string; code: string; message: string; account?: string; error: SftError }];
  /** A session ended normally. */
  'session-end': [{ peer: string; op: string; entries: number; account?: string }];
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 7878,
  iterations: DEFAULT_ITERATIONS,
  maxFileSize: 2 ** 40,
  maxFiles: 1_000_000,
  handshakeTimeout: 10_000,
  idleTimeout: 60_000,
  maxHandshakes: 16,
  partialMaxAge: 7 * 24 * 3600 * 1000,
  recover: true,
};

type Resolved = typeof DEFAULTS & Omit<ServerOptions, keyof typeof DEFAULTS>;

/** Who is on the other end of a session once authenticated, and where they may act. */
interface Principal {
  peer: string;
  account?: Account;
  store: FileStore;
}

/**
 * Serves many clients at once: each connection gets a greeting, runs the v2 handshake (shared password with CPace,
 * or accounts with OPAQUE, both with ML-KEM-768), then one request: receive files (send), send files (get), list
 * or remove, all inside the session's root.
 */
export class SecureServer extends EventEmitter<ServerEvents> {
  readonly #options: Resolved;
  readonly #sessions = new Set<Promise<void>>();
  readonly #sockets = new Set<Socket>();
  readonly #handshakes: Semaphore;
  readonly #admission: Admission;
  readonly #root: FileStore;
  #credentials: ServerCredentials | undefined;
  #server: Server | undefined;
  #tidyTimer: NodeJS.Timeout | undefined;

  constructor(options: ServerOptions) {
    super();
    const modes = [options.password, options.passwordKey, options.accounts].filter((m) => m !== undefined).length;
    if (modes !== 1) throw new UsageError('a server needs either a shared password or accounts, not both');
    this.#options = { ...DEFAULTS, ...stripUndefined(options) } as Resolved;
    this.#handshakes = new Semaphore(this.#options.maxHandshakes);
    this.#admission = new Admission(stripUndefined({
      maxConnections: options.maxConnections,
      maxUnauthenticatedPerSource: options.maxUnauthenticatedPerSource,
      failuresBeforeBackoff: options.failuresBeforeBackoff,
      maxBackoff: options.maxBackoff,
    }) as Partial<AdmissionLimits>);
    this.#root = new FileStore(options.dir, options.overwrite === true);
  }

  /**
   * Derives the PRS (shared password) or loads OPAQUE (accounts), creates the served directory, then listens.
   * @throws UsageError when the port is in use or not permitted.
   */
  async listen(): Promise<{ host: string; port: number }> {
    const server = createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
    await listenOn(server, this.#options.port, this.#options.host);
    this.#server = server;
    try {
      await this.prepare();
    } catch (error) {
      server.close();
      throw error;
    }
    return this.address();
  }

  /**
   * Everything listen() does but listening: for a worker process that is handed connections (see handle()).
   * The PRS of the shared password is computed here, once: the only password KDF the server ever runs.
   */
  async prepare(): Promise<void> {
    const o = this.#options;
    await this.#root.init(o.partialMaxAge, o.recover);
    if (o.accounts !== undefined) {
      await opaqueReady();
      const accounts = o.accounts;
      this.#credentials = { mode: Mode.Accounts, setup: accounts.serverSetup, record: (name) => accounts.lookup(name)?.record };
    } else if (o.passwordKey !== undefined) {
      this.#credentials = { mode: Mode.Password, ...o.passwordKey };
    } else {
      this.#credentials = await passwordCredentials(o.password as string | Uint8Array, o.iterations);
    }
    this.#tidyTimer = setInterval(() => this.#root.partials.tidy(o.partialMaxAge), 3600_000);
    this.#tidyTimer.unref();
  }

  /** The derived shared-password key for worker processes (after prepare()); nothing in accounts mode. */
  sharedKey(): { passwordKey?: PasswordKey } {
    const c = this.#credentials;
    return c?.mode === Mode.Password ? { passwordKey: { prs: c.prs, salt: c.salt, iterations: c.iterations } } : {};
  }

  address(): { host: string; port: number } {
    const address = this.#server?.address();
    if (address === null || address === undefined || typeof address === 'string') throw new UsageError('server is not listening');
    return { host: address.address, port: address.port };
  }

  /** Creates `dir` if needed and parks the partial files a killed server left there (see `recover`). */
  static async recover(dir: string, partialMaxAge = DEFAULTS.partialMaxAge): Promise<void> {
    await new FileStore(dir).init(partialMaxAge, true);
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** The served directory's real path. */
  get dir(): string {
    return this.#root.root;
  }

  /**
   * Stops accepting, lets running sessions finish for up to `graceMs`, then cuts the rest (their partial files
   * are parked as for any cut connection).
   */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#tidyTimer);
    const server = this.#server;
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    const sessions = Promise.allSettled([...this.#sessions]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([sessions, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.destroy();
    await sessions;
    await closed;
    this.#root.release();
  }

  #accept(socket: Socket): void {
    const decision = this.#admission.admit(socket.remoteAddress ?? '?');
    if (!decision.admitted) return refuse(socket, decision.reason);
    this.handle(socket, decision.ticket);
  }

  /** Serves one accepted connection (paused, nothing read yet); `ticket` hears how its admission ends. */
  handle(socket: Socket, ticket: Pick<Ticket, 'authenticated' | 'closed'>): void {
    this.#sockets.add(socket);
    const session = this.#session(socket, ticket).finally(() => {
      ticket.closed();
      this.#sockets.delete(socket);
      this.#sessions.delete(session);
    });
    this.#sessions.add(session);
  }

  async #session(socket: Socket, ticket: Pick<Ticket, 'authenticated'>): Promise<void> {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const conn = new Connection(socket, HANDSHAKE_FRAMES.fromClient);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeout, () => conn.fail(new NetworkError('TIMEOUT', 'idle timeout')));
    const handshakeTimer = setTimeout(() => conn.fail(new NetworkError('TIMEOUT', 'handshake timeout')), this.#options.handshakeTimeout);
    socket.resume();
    let principal: Principal | undefined;
    let session: Session | undefined;
    try {
      const authenticated = await this.#authenticate(conn);
      clearTimeout(handshakeTimer);
      ticket.authenticated();
      session = new Session(conn, authenticated.keys, 'server');
      principal = await this.#principal(peer, authenticated.account);
      const request = await this.#request(session);
      const entries = await this.#dispatch(session, principal, request);
      await conn.end();
      this.emit('session-end', { peer, op: opName(request.op), entries, ...accountOf(principal) });
    } catch (error) {
      const e = asSftError(error);
      if (session !== undefined && e.code !== 'NETWORK' && e.code !== 'TIMEOUT') await session.fail(e).catch(() => undefined);
      if (session === undefined && (e.code === 'AUTH_FAILED' || e.code === 'UNSUPPORTED') && !socket.destroyed) {
        // Unauthenticated, as it must be: a client shows only its own words for the code.
        socket.end(encodeFrame(FrameType.Error, encodeError({ code: e.code, message: e.code === 'AUTH_FAILED' ? 'authentication failed' : 'unsupported' })));
        setTimeout(() => socket.destroy(), 1000).unref();
      } else socket.destroy();
      this.emit('session-error', { peer, code: e.code, message: e.message, ...accountOf(principal), error: e });
    } finally {
      clearTimeout(handshakeTimer);
    }
  }

  /**
   * Greeting → ClientHello → ServerHello → ClientFinish. Before the client's finish verifies, the server does one
   * ML-KEM encapsulation and the PAKE's server step (~1.3 ms with a shared password), and nothing for a hello that
   * does not answer this connection's greeting, or whose connection was already closed.
   */
  async #authenticate(conn: Connection): Promise<{ keys: Session['keys']; account?: string }> {
    const credentials = this.#credentials;
    if (credentials === undefined) throw new SftError('INTERNAL', 'server used before listen() or prepare()');
    const greeting = serverGreeting(credentials);
    conn.send(FrameType.Greeting, [greeting]);
    const hello = await expectHandshake(conn, FrameType.ClientHello, 'a client hello');
    const release = await this.#handshakes.acquire();
    let response;
    try {
      if (conn.peerEnded || conn.socket.destroyed) throw new NetworkError('NETWORK', 'the client left before its hello was answered');
      response = serverRespond(credentials, greeting, hello, this.#options.suites ?? SUITE_NAMES);
    } finally {
      release();
    }
    conn.send(FrameType.ServerHello, [response.body]);
    const finish = await expectHandshake(conn, FrameType.ClientFinish, 'the client finish');
    return serverFinish(response.pending, finish);
  }

  /** Where an authenticated client may act: the inbox (shared password) or its account's home. */
  async #principal(peer: string, name: string | undefined): Promise<Principal> {
    if (name === undefined) return { peer, store: this.#root };
    const account = this.#options.accounts?.lookup(name);
    if (account === undefined) throw new AuthError('the account was removed');
    const store = new FileStore(resolveHome(this.#root.root, account), this.#options.overwrite === true);
    await store.init(this.#options.partialMaxAge, false);
    return { peer, account, store };
  }

  async #request(session: Session): Promise<Request> {
    const frame = await session.next('a request');
    if (frame.type !== FrameType.Request) throw new IntegrityError('MALFORMED', 'expected a request');
    return decodeRequest(frame.body);
  }

  #allow(principal: Principal, permission: Permission): void {
    const { account } = principal;
    const allowed = account !== undefined ? account.can.includes(permission) : permission === 'send' || (this.#options.allowGet === true && (permission === 'get' || permission === 'list'));
    if (!allowed) {
      const who = account === undefined ? 'this server (shared password)' : `account ${account.name}`;
      throw new SftError('REFUSED', `${who} may not ${permission}${account === undefined && permission !== 'delete' ? ': the server runs without --allow-get' : ''}`);
    }
  }

  /** Runs the request; returns how many entries it moved, listed or removed. */
  async #dispatch(session: Session, principal: Principal, request: Request): Promise<number> {
    const extra = accountOf(principal);
    const root = principal.store.root;
    switch (request.op) {
      case Op.Put: {
        this.#allow(principal, 'send');
        const into = safeDirectory(request.into, root).join('/');
        const quota = principal.account?.quota;
        // Each file is reported as it is stored; the summary would keep a record of each until the session ends.
        const receiver = new Receiver(session, principal.store, {
          maxFileSize: this.#options.maxFileSize,
          maxEntries: this.#options.maxFiles,
          ...(quota === undefined ? {} : { quotaLeft: quota - usage(root) }),
          records: false,
        }, { onStored: (entry) => this.emit('file', { ...entry, peer: principal.peer, ...extra }) }, into);
        await receiver.run();
        return receiver.counts.stored;
      }
      case Op.Get: {
        this.#allow(principal, 'get');
        const { entries, notices } = collectRemote(root, request.paths);
        for (const notice of notices) session.send(FrameType.Notice, encodeNotice(notice));
        const sender = new Sender(session, entries, { onDelivered: (d) => this.emit('sent', { ...d, peer: principal.peer, ...extra }) }, { records: false });
        await sender.run();
        return sender.counts.delivered;
      }
      case Op.List: {
        this.#allow(principal, 'list');
        const entries = listRemote(root, request.path);
        for (const batch of batches(entries)) if (!session.send(FrameType.Listing, encodeListing(batch))) await session.drained();
        session.send(FrameType.Done, encodeDone({ entries: entries.length, failed: 0, refused: 0 }));
        return entries.length;
      }
      case Op.Delete: {
        this.#allow(principal, 'delete');
        const { removed, notices } = removeRemote(root, request.paths);
        for (const notice of notices) session.send(FrameType.Notice, encodeNotice(notice));
        session.send(FrameType.Done, encodeDone({ entries: removed, failed: notices.length, refused: 0 }));
        return removed;
      }
    }
  }
}

/** The next handshake frame, which must be `type`. A client's unauthenticated Error ends the handshake. */
async function expectHandshake(conn: Connection, type: FrameType, what: string): Promise<Buffer> {
  const frame = await conn.expect(what);
  if (frame.type === FrameType.Error) {
    const { code } = decodeError(frame.body);
    if (code === 'AUTH_FAILED') throw new AuthError('the client could not verify the server: wrong password');
    throw new NetworkError('NETWORK', 'the client ended the handshake');
  }
  if (frame.type !== type) throw new IntegrityError('MALFORMED', `expected ${what}`);
  return frame.body;
}

/** Listing entries in frames of at most ~60 KiB. */
function* batches(entries: ListingEntry[]): Generator<ListingEntry[]> {
  let batch: ListingEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = 19 + Buffer.byteLength(entry.name);
    if (bytes + size > 60 * 1024 && batch.length > 0) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** Refuses a connection at accept: one Error frame, then close (reading and dropping what the peer sends). */
export function refuse(socket: Socket, reason: string): void {
  socket.on('error', () => undefined);
  socket.resume();
  setTimeout(() => socket.destroy(), 1000).unref();
  socket.end(encodeFrame(FrameType.Error, encodeError({ code: 'REFUSED', message: reason })));
}


function opName(op: number): string {
  return ({ [Op.Put]: 'send', [Op.Get]: 'get', [Op.List]: 'list', [Op.Delete]: 'delete' } as Record<number, string>)[op] ?? 'unknown';
}

function accountOf(principal: Principal | undefined): { account?: string } {
  return principal?.account === undefined ? {} : { account: principal.account.name };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
