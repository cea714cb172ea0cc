import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { IntegrityError, NetworkError, SftError, UsageError } from '../errors.js';
import { equalConstantTime } from '../crypto/bytes.js';
import { FrameType, encodeFrame, type Frame } from '../protocol/frames.js';
import {
  OfferKind, SUITE_NAMES, decodeClientHello, decodeDone, decodeFileHeader, decodeFileTrailer, decodeStart, encodeDone,
  encodeError, encodeOffer, encodeReceipt, encodeServerHello, type FileHeader, type Offer, type Receipt, type Suite,
} from '../protocol/messages.js';
import { serverFinish, serverRespond, fileKey, type SessionKeys } from '../protocol/handshake.js';
import { ControlChannel, contentOpener, controlAead } from '../protocol/channel.js';
import { FramedSocket, HANDSHAKE_HIGH_WATER, SESSION_HIGH_WATER, asSftError, expectFrame } from './framed-socket.js';
import { Backoff, Semaphore } from './admission.js';
import { Inbox, type ClaimedPartial, type IncomingFile, type PartialIdentity } from './inbox.js';
import { CHUNK_SIZE } from '../crypto/stream.js';
import { garbageBudget } from '../util/memory.js';

export interface ServerOptions {
  password: string | Uint8Array;
  /** Receiving directory (created if missing). */
  dir: string;
  host?: string;
  /** 0 picks a free port (see address()). Default 7878. */
  port?: number;
  /** Replace existing files atomically instead of storing under a unique name. */
  overwrite?: boolean;
  /** Cipher suites accepted, in the server's order of preference. Default: all. */
  suites?: Suite[];
  /** PBKDF2 iteration bounds a client may choose. Default [100,000, 10,000,000]. */
  minIterations?: number;
  maxIterations?: number;
  /** Largest file accepted, bytes. Default 1 TiB. */
  maxFileSize?: number;
  /** Most files in one session. Default 1,000,000. */
  maxFiles?: number;
  /** Time allowed from connect to completed handshake, ms. Default 10 s. */
  handshakeTimeout?: number;
  /** A session with no traffic for this long is dropped, ms. Default 60 s. */
  idleTimeout?: number;
  /** Concurrent connections; more are refused at accept. Default 1024. */
  maxConnections?: number;
  /** Handshakes computing PBKDF2 and CPace at once; more wait (within the handshake timeout). Default 16. */
  maxHandshakes?: number;
  /** Failed handshakes from one address before it is refused at accept for a while. Default 5. */
  failuresBeforeBackoff?: number;
  /** The longest an address is refused, ms; the wait starts at 1 s and doubles per further failure. Default 5 min. */
  maxBackoff?: number;
  /** Partial files kept for resuming are removed after this long, ms. Default 7 days. */
  partialMaxAge?: number;
  /**
   * At listen(), park the partial files a killed server left so they can be resumed. Default true. Set false on
   * all but one of several servers sharing an inbox, and call SecureServer.recover(dir) once before they start.
   */
  recover?: boolean;
}

export interface ReceivedFile {
  peer: string;
  path: string;
  storedPath: string;
  size: number;
  sha256: string;
  /** Bytes that were already on the server (a resumed partial, or all of them when the same file was stored). */
  resumedFrom: number;
}

export interface ServerEvents {
  /** A file was verified, stored and acknowledged. */
  file: [ReceivedFile];
  /** A session failed (authentication, integrity, limits, network); `code` is the SftError code. */
  'session-error': [{ peer: string; code: string; message: string }];
  /** A session ended normally. */
  'session-end': [{ peer: string; files: number }];
}

/** Files whose fsync and placement may be in flight at once in one session. */
const MAX_PENDING_COMMITS = 32;
/** Files at least this large are checked against the inbox's free space before any content. */
const FREE_SPACE_CHECK = 1024 * 1024;
/** Files a client may announce ahead of their content. */
export const MAX_OFFERED = 1024;

interface Offered {
  header: FileHeader;
  offer: Offer;
  /** SHA-256 of the same-named, same-size file already stored. */
  have?: Buffer;
  /** A partial of this file claimed for a resume. */
  claimed?: ClaimedPartial | undefined;
}

/** Files over one chunk keep their partial content for a resume; smaller ones are simply sent again. */
function resumableIdentity(header: FileHeader): PartialIdentity | undefined {
  return header.size > CHUNK_SIZE ? { path: header.path, size: header.size, mtimeMs: header.mtimeMs } : undefined;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 7878,
  minIterations: 100_000,
  maxIterations: 10_000_000,
  maxFileSize: 2 ** 40,
  maxFiles: 1_000_000,
  handshakeTimeout: 10_000,
  idleTimeout: 60_000,
  maxConnections: 1024,
  maxHandshakes: 16,
  failuresBeforeBackoff: 5,
  maxBackoff: 300_000,
  partialMaxAge: 7 * 24 * 3600 * 1000,
  recover: true,
};

/**
 * Receives files from many clients at once. Each connection runs CPace, then any number of files, each verified
 * (AEAD per chunk, SHA-256 over the whole) before it is fsynced, placed, and acknowledged with a receipt.
 */
export class SecureServer extends EventEmitter<ServerEvents> {
  readonly #options: Required<Omit<ServerOptions, 'suites' | 'password' | 'overwrite'>> & { suites: Suite[]; password: string | Uint8Array };
  readonly #inbox: Inbox;
  readonly #sessions = new Set<Promise<void>>();
  readonly #sockets = new Set<Socket>();
  readonly #handshakes: Semaphore;
  readonly #backoff: Backoff;
  #server: Server | undefined;
  #tidyTimer: NodeJS.Timeout | undefined;

  constructor(options: ServerOptions) {
    super();
    const o = { ...DEFAULTS, suites: [...SUITE_NAMES], ...stripUndefined(options), password: options.password, dir: options.dir };
    if (o.minIterations < 1 || o.maxIterations < o.minIterations) throw new UsageError('iteration bounds must satisfy 1 <= min <= max');
    this.#options = o;
    this.#inbox = new Inbox(options.dir, options.overwrite === true);
    this.#handshakes = new Semaphore(o.maxHandshakes);
    this.#backoff = new Backoff(o.failuresBeforeBackoff, o.maxBackoff);
  }

  /** Creates the inbox and starts listening. */
  async listen(): Promise<{ host: string; port: number }> {
    await this.#inbox.init(this.#options.partialMaxAge, this.#options.recover);
    this.#tidyTimer = setInterval(() => void this.#inbox.tidy(this.#options.partialMaxAge).catch(() => undefined), 3600_000);
    this.#tidyTimer.unref();
    const server = createServer({ pauseOnConnect: false }, (socket) => this.#accept(socket));
    server.maxConnections = this.#options.maxConnections;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  address(): { host: string; port: number } {
    const address = this.#server?.address();
    if (address === null || address === undefined || typeof address === 'string') throw new UsageError('server is not listening');
    return { host: address.address, port: address.port };
  }

  /** Creates `dir` if needed and parks the partial files a killed server left there (see `recover`). */
  static async recover(dir: string, partialMaxAge = DEFAULTS.partialMaxAge): Promise<void> {
    await new Inbox(dir, false).init(partialMaxAge, true);
  }

  /** Connections being served now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** The inbox's real path. */
  get dir(): string {
    return this.#inbox.root;
  }

  /**
   * Stops accepting, lets running sessions finish for up to `graceMs`, then cuts the rest (their partial files are
   * removed as for any aborted transfer).
   */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    clearInterval(this.#tidyTimer);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const sessions = Promise.allSettled([...this.#sessions]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([sessions, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.destroy();
    await sessions;
    await closed;
  }

  #accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '?';
    if (this.#backoff.blocked(address)) {
      socket.on('error', () => undefined);
      // Read and drop what the peer sends so its end of stream is seen and the socket closes; a peer that never
      // closes is cut after a second (a lingering socket would also hold up close()).
      socket.resume();
      setTimeout(() => socket.destroy(), 1000).unref();
      socket.end(encodeFrame(FrameType.Error, encodeError({ code: 'REFUSED', message: 'too many failed attempts from this address; try again later' })));
      this.emit('session-error', { peer: `${address}:${socket.remotePort ?? '?'}`, code: 'REFUSED', message: 'address in backoff after failed attempts' });
      return;
    }
    this.#sockets.add(socket);
    const session = this.#session(socket).finally(() => {
      this.#sockets.delete(socket);
      this.#sessions.delete(session);
    });
    this.#sessions.add(session);
  }

  async #session(socket: Socket): Promise<void> {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const conn = new FramedSocket(socket, HANDSHAKE_HIGH_WATER);
    let authenticated = false;
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeout, () => conn.fail(new NetworkError('TIMEOUT', 'idle timeout')));
    const handshakeTimer = setTimeout(() => conn.fail(new NetworkError('TIMEOUT', 'handshake timeout')), this.#options.handshakeTimeout);
    let incoming: IncomingFile | undefined;
    /** Files announced and offered, waiting for the client's Start, oldest first. */
    const offered: Offered[] = [];
    let files = 0;
    const commits: Promise<void>[] = [];
    const collect = garbageBudget();
    try {
      const keys = await this.#handshake(conn);
      clearTimeout(handshakeTimer);
      authenticated = true;
      conn.highWater = SESSION_HIGH_WATER;
      this.#backoff.succeeded(socket.remoteAddress ?? '?');
      const control = new ControlChannel(controlAead(keys.suite), keys.serverToClient, keys.clientToServer);
      const sendReceipt = async (receipt: Receipt, resumedFrom: number, path: string) => {
        if (!conn.send(FrameType.Receipt, [control.seal(FrameType.Receipt, encodeReceipt(receipt))])) await conn.drained();
        this.emit('file', { peer, path, storedPath: receipt.storedPath, size: receipt.size, sha256: receipt.sha256.toString('hex'), resumedFrom });
      };
      for (;;) {
        const frame = await expectFrame(conn, 'a file header, a start or done');
        if (frame.type === FrameType.Done) {
          const sent = decodeDone(control.open(frame.type, frame.body));
          await Promise.all(commits);
          if (sent !== files || offered.length > 0) throw new IntegrityError('TAMPERED', `client reports ${sent} files, server stored ${files}`);
          conn.send(FrameType.Done, [control.seal(FrameType.Done, encodeDone(files))]);
          await conn.end();
          this.emit('session-end', { peer, files });
          return;
        }
        if (frame.type === FrameType.FileHeader) {
          // Headers may run ahead of content (a window of them per round trip): each gets an Offer at once.
          const index = files + offered.length;
          if (index >= this.#options.maxFiles) throw new SftError('REFUSED', `more than ${this.#options.maxFiles} files in one session`);
          if (offered.length >= MAX_OFFERED) throw new SftError('REFUSED', `more than ${MAX_OFFERED} files announced ahead of their content`);
          const header = decodeFileHeader(control.open(frame.type, frame.body));
          if (header.index !== index) throw new IntegrityError('TAMPERED', `file index ${header.index}, expected ${index}`);
          if (header.size > this.#options.maxFileSize) throw new SftError('REFUSED', `file of ${header.size} bytes exceeds the limit of ${this.#options.maxFileSize}`);
          // A statfs per small file would cost more than it saves: a disk that fills up fails the write cleanly anyway.
          if (header.size >= FREE_SPACE_CHECK) {
            const free = await this.#inbox.freeBytes();
            if (header.size > free) throw new SftError('REFUSED', `file of ${header.size} bytes exceeds the ${free} bytes free on the server`);
          }
          const entry = await this.#offer(header);
          offered.push(entry);
          if (!conn.send(FrameType.Offer, [control.seal(FrameType.Offer, encodeOffer(entry.offer))])) await conn.drained();
          continue;
        }
        if (frame.type !== FrameType.Start) throw unexpected(frame, 'a file header, a start or done');
        const entry = offered.shift();
        if (entry === undefined) throw new IntegrityError('MALFORMED', 'start without a file header');
        const { header } = entry;
        const start = decodeStart(control.open(frame.type, frame.body));
        if (start.index !== header.index) throw new IntegrityError('TAMPERED', 'start for another file');
        if (start.skip) {
          // The same file (path, size, SHA-256) is already stored: acknowledged without content.
          if (entry.have === undefined) throw new IntegrityError('MALFORMED', 'skip without an offer to skip');
          const receipt = { index: header.index, size: header.size, sha256: entry.have, storedPath: header.path };
          const acknowledged = (commits.at(-1) ?? Promise.resolve()).then(() => sendReceipt(receipt, header.size, header.path));
          acknowledged.catch(() => undefined);
          commits.push(acknowledged);
          files++;
          continue;
        }
        let claimed = entry.claimed;
        entry.claimed = undefined;
        if (claimed !== undefined && start.offset !== claimed.offset) {
          if (start.offset !== 0) throw new IntegrityError('MALFORMED', 'start offset does not match the offer');
          await this.#inbox.release(claimed, false);
          claimed = undefined;
        } else if (claimed === undefined && start.offset !== 0) {
          throw new IntegrityError('MALFORMED', 'start offset without a partial to resume');
        }
        const resumedFrom = claimed?.offset ?? 0;
        const free = header.size >= FREE_SPACE_CHECK ? await this.#inbox.freeBytes() : Infinity;
        if (header.size - resumedFrom > free) {
          if (claimed !== undefined) await this.#inbox.release(claimed, true);
          throw new SftError('REFUSED', `file of ${header.size} bytes exceeds the ${free} bytes free on the server`);
        }
        incoming = await this.#inbox.begin(header.path, header.mode, resumableIdentity(header), claimed);
        const hash = claimed?.hash ?? createHash('sha256');
        let received = resumedFrom;
        const opener = contentOpener(keys.suite, fileKey(keys, header.index), resumedFrom / CHUNK_SIZE);
        for (let last = false; !last; ) {
          const chunk = await expectFrame(conn, 'a chunk');
          if (chunk.type !== FrameType.Chunk && chunk.type !== FrameType.FinalChunk) throw unexpected(chunk, 'a chunk');
          last = chunk.type === FrameType.FinalChunk;
          const plaintext = opener.open(chunk.body, last);
          received += plaintext.length;
          if (received > header.size) throw new IntegrityError('TAMPERED', `more data than the announced ${header.size} bytes`);
          hash.update(plaintext);
          collect(plaintext.length);
          await incoming.write(plaintext);
        }
        if (received !== header.size) throw new IntegrityError('TRUNCATED', `received ${received} of ${header.size} bytes`);
        const trailerFrame = await expectFrame(conn, 'a file trailer');
        if (trailerFrame.type !== FrameType.FileTrailer) throw unexpected(trailerFrame, 'a file trailer');
        const trailer = decodeFileTrailer(control.open(trailerFrame.type, trailerFrame.body));
        const sha256 = hash.digest();
        if (trailer.index !== header.index) throw new IntegrityError('TAMPERED', 'trailer for another file');
        if (!equalConstantTime(sha256, trailer.sha256)) throw new IntegrityError('HASH_MISMATCH', `sha-256 mismatch for ${header.path}`);
        // fsync and placement run while the next file streams in; receipts still go out in order.
        const committing = incoming.commit(header.mtimeMs, sha256);
        incoming = undefined;
        const acknowledged = Promise.all([commits.at(-1), committing]).then(([, storedPath]) =>
          sendReceipt({ index: header.index, size: received, sha256, storedPath }, resumedFrom, header.path),
        );
        acknowledged.catch(() => undefined);
        commits.push(acknowledged);
        files++;
        if (commits.length >= MAX_PENDING_COMMITS) await commits.shift();
      }
    } catch (error) {
      const e = asSftError(error);
      if (!authenticated) this.#backoff.failed(socket.remoteAddress ?? '?');
      // A cut connection (client killed, network gone, server stopping) keeps resumable content; anything else
      // (tampering, refusal, disk errors) deletes it.
      const keep = e.code === 'NETWORK' || e.code === 'TIMEOUT';
      await incoming?.abort(keep);
      for (const entry of offered) if (entry.claimed !== undefined) await this.#inbox.release(entry.claimed, keep);
      await Promise.allSettled(commits);
      if (!socket.destroyed && e.code !== 'NETWORK' && e.code !== 'TIMEOUT') {
        conn.send(FrameType.Error, [encodeError({ code: e.code, message: e.message })]);
        socket.end();
      } else socket.destroy();
      this.emit('session-error', { peer, code: e.code, message: e.message });
    } finally {
      clearTimeout(handshakeTimer);
    }
  }

  /** What the server holds of an announced file: the same file already stored, or a partial to resume. */
  async #offer(header: FileHeader): Promise<Offered> {
    const index = header.index;
    const have = await this.#inbox.existing(header.path, header.size);
    const identity = resumableIdentity(header);
    const claimed = identity === undefined ? undefined : await this.#inbox.claim(identity, CHUNK_SIZE);
    if (have !== undefined) {
      // A partial of a file that is already stored is left from a server killed between placing and cleaning up.
      if (claimed !== undefined) await this.#inbox.release(claimed, false);
      return { header, have: have.sha256, offer: { index, kind: OfferKind.Have, offset: 0, sha256: have.sha256 } };
    }
    if (claimed !== undefined && claimed.offset > 0) {
      return { header, claimed, offer: { index, kind: OfferKind.Resume, offset: claimed.offset, sha256: claimed.hash.copy().digest() } };
    }
    if (claimed !== undefined) await this.#inbox.release(claimed, false);
    return { header, offer: { index, kind: OfferKind.New, offset: 0, sha256: Buffer.alloc(32) } };
  }

  async #handshake(conn: FramedSocket): Promise<SessionKeys> {
    const helloFrame = await expectFrame(conn, 'a client hello');
    if (helloFrame.type !== FrameType.ClientHello) throw unexpected(helloFrame, 'a client hello');
    const hello = decodeClientHello(helloFrame.body);
    // PBKDF2 and CPace cost CPU: only maxHandshakes run at once, whatever the number of connections.
    const release = await this.#handshakes.acquire();
    let response;
    try {
      if (conn.socket.destroyed) throw new NetworkError('NETWORK', 'connection closed while waiting for a handshake slot');
      response = await serverRespond(this.#options.password, hello, helloFrame.body, this.#options);
    } finally {
      release();
    }
    const { serverHello, keys, expectedClientConfirm } = response;
    conn.send(FrameType.ServerHello, [encodeServerHello(serverHello)]);
    const confirm = await expectFrame(conn, 'the client confirmation');
    if (confirm.type !== FrameType.ClientConfirm) throw unexpected(confirm, 'the client confirmation');
    serverFinish(expectedClientConfirm, confirm.body);
    return keys;
  }
}

function unexpected(frame: Frame, wanted: string): IntegrityError {
  return new IntegrityError('MALFORMED', `unexpected frame type 0x${frame.type.toString(16)} where ${wanted} was due`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

