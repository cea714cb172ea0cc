/**
 * The peer's side of the relay (docs/PROTOCOL.md §10.2): connect, send HELLO, wait for the partner, and hand back the
 * socket as a clean byte stream to the partner (nothing of the relay protocol left in it or read past PAIRED).
 */
import { lookup } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';
import { IntegrityError, NetworkError, SftError, UsageError } from '../errors.js';
import { MAX_NAMEPLATE } from './code.js';
import { RelayDecoder, RelayErrorCode, encodeHello, type RelayMessage, type RoomLimits } from './wire.js';

/** Longest wait for one address to accept a TCP connection (a host may have several addresses). */
const CONNECT_TIMEOUT_MS = 10_000;

interface JoinCommon {
  /** A host name, an IPv4 address, or an IPv6 address with or without brackets ("::1", "[::1]"). */
  host: string;
  port: number;
  /** The whole join: reaching the relay and waiting for the partner, ms. */
  timeoutMs: number;
  /** Aborting rejects with signal.reason and closes the connection. */
  signal?: AbortSignal;
  /** Called once the relay holds a room for us and we wait (with `allocate`, this is when the code can be shown). */
  onWaiting?: (nameplate: number) => void;
  /**
   * Keep our side writable after the partner's end arrives (net.Socket's allowHalfOpen). The relay passes an end
   * on and lets the other side go on sending for its half-open grace (RoomLimits.halfOpenGraceMs). Default false.
   */
  allowHalfOpen?: boolean;
}

export type JoinOptions = JoinCommon & ({ nameplate: number; allocate?: false } | { allocate: true; nameplate?: undefined });

export interface RelayConnection {
  /** A byte stream to the partner; the caller owns it (listeners, errors, destroy). */
  socket: Socket;
  nameplate: number;
  /** The room's limits as the relay announced them (0: none). */
  limits: RoomLimits;
  /**
   * After the socket ended before the caller's session did: the relay limit that probably cut it (bytes per room
   * or room lifetime), as a REFUSED error in words, or undefined when no limit explains it.
   */
  explainCut(): SftError | undefined;
}

/**
 * Joins a room on the relay and resolves once the partner is there.
 * @throws UsageError on a bad port or nameplate.
 * @throws NetworkError NETWORK when the relay cannot be reached, closes early, or does not speak the protocol;
 *   TIMEOUT when `timeoutMs` passes or the relay ends the wait (no partner came).
 * @throws SftError REFUSED when the relay refuses: the room is taken, the relay is busy, a limit of yours.
 */
export async function joinRelay(options: JoinOptions): Promise<RelayConnection> {
  const { port, timeoutMs, signal } = options;
  const host = options.host.replace(/^\[(.*)\]$/u, '$1');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`relay port must be 1 to 65535, got ${port}`);
  if (options.allocate !== true && !(Number.isInteger(options.nameplate) && options.nameplate >= 1 && options.nameplate <= MAX_NAMEPLATE)) {
    throw new UsageError(`nameplate must be 1 to ${MAX_NAMEPLATE}`);
  }
  signal?.throwIfAborted();
  const deadline = performance.now() + timeoutMs;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const socket = await connectAny(host, port, where, deadline, signal, options.allowHalfOpen === true);
  try {
    return await handshake(socket, options, where, deadline);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

async function connectAny(host: string, port: number, where: string, deadline: number, signal: AbortSignal | undefined, allowHalfOpen: boolean): Promise<Socket> {
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (error) {
    throw new NetworkError('NETWORK', `cannot resolve the relay host "${host}" (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'})`, { cause: error });
  }
  const failures: string[] = [];
  for (const { address } of addresses) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    try {
      return await connectOnce({ host: address, port, allowHalfOpen }, Math.min(left, CONNECT_TIMEOUT_MS), signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      failures.push(`${address}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (failures.length === 0) throw new NetworkError('TIMEOUT', `cannot reach the relay at ${where}: timed out`);
  throw new NetworkError('NETWORK', `cannot reach the relay at ${where} (${failures.join('; ')})`);
}

function connectOnce(target: { host: string; port: number; allowHalfOpen: boolean }, timeoutMs: number, signal: AbortSignal | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => fail(signal?.reason as Error);
    const timer = setTimeout(() => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}

/** Sends HELLO and reads the relay's answers up to PAIRED, never past it. */
function handshake(socket: Socket, options: JoinOptions, where: string, deadline: number): Promise<RelayConnection> {
  const { signal, onWaiting } = options;
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  const decoder = new RelayDecoder('peer');
  let nameplate = options.allocate === true ? undefined : options.nameplate;
  return new Promise((resolve, reject) => {
    const finish = (error: unknown, connection?: RelayConnection): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('readable', onReadable);
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (connection === undefined) reject(error);
      else resolve(connection);
    };
    const onAbort = (): void => finish(signal?.reason);
    const onError = (error: NodeJS.ErrnoException): void => finish(new NetworkError('NETWORK', `connection to the relay at ${where} failed (${error.code ?? error.message})`, { cause: error }));
    const onEnd = (): void => finish(new NetworkError('NETWORK', `the relay at ${where} closed the connection before pairing`));
    const timer = setTimeout(() => finish(timedOut(nameplate, where)), Math.min(2 ** 31 - 1, Math.max(0, deadline - performance.now())));
    const onMessage = (message: RelayMessage): boolean => {
      if (message.type === 'waiting') {
        if (nameplate !== undefined && message.nameplate !== nameplate) throw new IntegrityError('MALFORMED', 'relay protocol: WAITING for another nameplate');
        nameplate = message.nameplate;
        onWaiting?.(nameplate);
        return false;
      }
      if (message.type === 'error') throw refusal(message.code, message.message, nameplate, where);
      if (message.type !== 'paired' || nameplate === undefined) throw new IntegrityError('MALFORMED', `relay protocol: unexpected ${message.type}`);
      const rest = decoder.takeRest();
      if (rest.length > 0) socket.unshift(rest);
      finish(undefined, connection(socket, nameplate, message.limits, rest.length));
      return true;
    };
    const onReadable = (): void => {
      try {
        for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
          decoder.push(chunk);
          for (let message; (message = decoder.next()) !== undefined; ) if (onMessage(message)) return;
        }
      } catch (error) {
        finish(error instanceof IntegrityError ? new NetworkError('NETWORK', `${where} is not an sft relay (${error.message})`) : error);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('readable', onReadable);
    socket.write(encodeHello(options.allocate === true ? { mode: 'allocate' } : { mode: 'claim', nameplate: options.nameplate }));
  });
}

function connection(socket: Socket, nameplate: number, limits: RoomLimits, unread: number): RelayConnection {
  const readBase = socket.bytesRead - unread;
  const writtenBase = socket.bytesWritten;
  const pairedAt = performance.now();
  return {
    socket,
    nameplate,
    limits,
    explainCut() {
      const moved = socket.bytesRead - readBase + (socket.bytesWritten - writtenBase);
      // What the relay counted and what this side saw differ by what was in flight when it cut.
      const slack = Math.min(limits.maxBytes / 4, 16 * 1024 * 1024);
      if (limits.maxBytes > 0 && moved >= limits.maxBytes - slack) {
        return new SftError('REFUSED', `the relay closed the room at its limit of ${limits.maxBytes} bytes per room (both directions)`);
      }
      if (limits.lifetimeMs > 0 && performance.now() - pairedAt >= limits.lifetimeMs - 1000) {
        return new SftError('REFUSED', `the relay closed the room at its limit of ${Math.round(limits.lifetimeMs / 1000)} s per room`);
      }
      return undefined;
    },
  };
}

function timedOut(nameplate: number | undefined, where: string): NetworkError {
  return new NetworkError('TIMEOUT', nameplate === undefined ? `no answer from the relay at ${where} in time` : `no partner joined room ${nameplate} in time`);
}

/** The relay's ERROR in words, as the error a caller expects (docs/PROTOCOL.md §10.4). */
function refusal(code: number, message: string, nameplate: number | undefined, where: string): SftError {
  const room = nameplate === undefined ? 'the room' : `room ${nameplate}`;
  switch (code) {
    case RelayErrorCode.WaitTimeout:
      return new NetworkError('TIMEOUT', `no partner joined ${room} before the relay stopped waiting`);
    case RelayErrorCode.RoomFull:
      return new SftError('REFUSED', `${room} already has two peers: the code was used already or someone else joined first; ask for a new code`);
    case RelayErrorCode.UnsupportedVersion:
      return new SftError('REFUSED', `the relay at ${where} speaks another protocol version (${message})`);
    case RelayErrorCode.SourceLimit:
    case RelayErrorCode.Busy:
    case RelayErrorCode.ShuttingDown:
      return new SftError('REFUSED', `the relay at ${where} refused: ${message}`);
    default:
      return new SftError('REFUSED', `the relay at ${where} refused the connection: ${message}`);
  }
}
