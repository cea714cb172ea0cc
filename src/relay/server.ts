/**
 * The relay (docs/PROTOCOL.md §10): peers connect over TCP and send HELLO naming a nameplate (or asking for one); two
 * peers of the same nameplate are paired and their bytes copied both ways, with backpressure, until either side
 * is gone. It keeps no files and sees only the nameplate, addresses, byte counts and timing: everything after
 * PAIRED is end to end between the peers.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { UsageError } from '../errors.js';
import { listenOn } from '../util/listen.js';
import { MAX_NAMEPLATE } from './code.js';
import { DEFAULT_LIMITS, MAX_TIME_MS, TokenBucket, sourceKey, type RelayLimits } from './limits.js';
import {
  RELAY_ERROR_NAMES, RelayDecoder, RelayErrorCode, encodeError, encodePaired, encodeWaiting, type Hello, type RoomLimits,
} from './wire.js';

export interface RelayOptions extends Partial<RelayLimits> {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port (see address()). Default 7879. */
  port?: number;
}

/** Why a room ended. */
export type CloseReason =
  | 'done'
  | 'half-open'
  | 'idle'
  | 'lifetime'
  | 'byte-limit'
  | 'wait-timeout'
  | 'sent-before-paired'
  | 'left'
  | 'shutdown';

export interface RoomClosed {
  nameplate: number;
  reason: CloseReason;
  /** Bytes forwarded from the peer that came first, and from the one that joined it. */
  fromFirst: number;
  fromSecond: number;
  paired: boolean;
  /** From the first peer's HELLO to the room's end. */
  ms: number;
}

export interface RelayEvents {
  /** Two peers of a nameplate were joined. */
  paired: [{ nameplate: number }];
  /** A room (waiting or paired) ended and its nameplate is free again. */
  'room-closed': [RoomClosed];
  /** A connection was refused before it had a room (the code is one of RELAY_ERROR_NAMES). */
  refused: [{ peer: string; code: string; message: string; nameplate?: number }];
}

export const RELAY_PORT = 7879;

/** Refusals still get their message while this many connections over maxConnections are open; past that, none. */
const REFUSAL_RESERVE = 64;
/** A refused connection is read (and dropped) until it closes, at most this long. */
const REFUSAL_LINGER_MS = 1000;

type PeerState = 'hello' | 'waiting' | 'paired' | 'refused';

class Peer {
  readonly decoder = new RelayDecoder('relay');
  state: PeerState = 'hello';
  room: Room | undefined;
  /** Bytes sent after HELLO before pairing, held for the partner. */
  early: Buffer[] = [];
  earlyBytes = 0;
  /** Reasons the socket is paused (a full partner, the rate limit); it reads again when there are none. */
  holds = 0;
  closed = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    readonly source: string,
    readonly name: string,
  ) {}

  hold(): void {
    if (this.holds++ === 0) this.socket.pause();
  }

  release(): void {
    if (--this.holds === 0) this.socket.resume();
  }
}

class Room {
  second: Peer | undefined;
  fromFirst = 0;
  fromSecond = 0;
  reason: CloseReason | undefined;
  bucket: TokenBucket | undefined;
  lastActivity = 0;
  readonly opened = performance.now();
  /** The wait for a partner, then the room's lifetime. */
  deadline: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly nameplate: number,
    readonly first: Peer,
  ) {}

  partner(peer: Peer): Peer | undefined {
    return peer === this.first ? this.second : this.first;
  }

  get bytes(): number {
    return this.fromFirst + this.fromSecond;
  }

  clearTimers(): void {
    clearTimeout(this.deadline);
    clearTimeout(this.idleTimer);
    clearTimeout(this.graceTimer);
  }
}

/**
 * A rendezvous and byte relay for many rooms at once. Every limit (RelayLimits) is checked before the thing it
 * bounds is created: connections at accept, rooms at HELLO, early bytes before they are held, room bytes before
 * they are forwarded.
 */
export class RelayServer extends EventEmitter<RelayEvents> {
  readonly #limits: RelayLimits;
  readonly #host: string;
  readonly #port: number;
  readonly #rooms = new Map<number, Room>();
  readonly #sockets = new Set<Socket>();
  readonly #peers = new Set<Peer>();
  readonly #perSource = new Map<string, number>();
  readonly #whenEmpty: (() => void)[] = [];
  #waiting = 0;
  #server: Server | undefined;
  #closing = false;

  /** @throws UsageError on a limit that is negative, not an integer, or too large for the wire. */
  constructor(options: RelayOptions = {}) {
    super();
    const limits = { ...DEFAULT_LIMITS };
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof RelayLimits)[]) {
      const value = options[key];
      if (value === undefined) continue;
      const max = key.endsWith('Ms') ? MAX_TIME_MS : Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new UsageError(`relay limit ${key} must be an integer in [0, ${max}]`);
      limits[key] = value;
    }
    for (const key of ['maxConnections', 'maxPerSource', 'maxWaitingRooms', 'helloTimeoutMs', 'waitTimeoutMs', 'halfOpenGraceMs'] as const) {
      if (limits[key] === 0) throw new UsageError(`relay limit ${key} must be at least 1`);
    }
    this.#limits = limits;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? RELAY_PORT;
  }

  get limits(): Readonly<RelayLimits> {
    return this.#limits;
  }

  /** Rooms open now (waiting or paired). */
  get rooms(): number {
    return this.#rooms.size;
  }

  /** Starts listening. @throws UsageError on a port in use or not permitted, or an address not this machine's. */
  async listen(): Promise<{ host: string; port: number }> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
    this.#server = server;
    await listenOn(server, this.#port, this.#host);
    return this.address();
  }

  address(): { host: string; port: number } {
    const address = this.#server?.address();
    if (address === null || address === undefined || typeof address === 'string') throw new UsageError('relay is not listening');
    return { host: address.address, port: address.port };
  }

  /**
   * Stops accepting; peers not yet paired get SHUTTING_DOWN; paired rooms may finish for up to `graceMs`, then
   * are cut. Resolves when every connection is closed.
   */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.#server;
    if (server === undefined || this.#closing) return;
    this.#closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const room of [...this.#rooms.values()]) {
      if (room.second === undefined) this.#expire(room, 'shutdown', RelayErrorCode.ShuttingDown, 'the relay is shutting down');
    }
    for (const peer of this.#peers) {
      if (peer.state === 'hello') this.#refuse(peer, RelayErrorCode.ShuttingDown, 'the relay is shutting down');
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#empty(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const room of [...this.#rooms.values()]) this.#end(room, 'shutdown');
    for (const socket of this.#sockets) socket.destroy();
    await this.#empty();
    await stopped;
  }

  // ---- accept and HELLO -------------------------------------------------------------------------------------

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const open = this.#sockets.size;
    this.#track(socket);
    // Past the reserve for refusals, a connection is dropped without a word.
    if (open >= this.#limits.maxConnections + REFUSAL_RESERVE) return void socket.destroy();
    const peer = new Peer(socket, sourceKey(socket.remoteAddress ?? '?'), `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
    if (this.#admit(peer, open)) this.#serve(peer);
  }

  /** Checks the connection limits; refuses and returns false when one is reached. */
  #admit(peer: Peer, open: number): boolean {
    const { maxConnections, maxPerSource } = this.#limits;
    if (this.#closing) this.#refuse(peer, RelayErrorCode.ShuttingDown, 'the relay is shutting down');
    else if (open >= maxConnections) this.#refuse(peer, RelayErrorCode.Busy, 'the relay has too many connections; try again later');
    else if ((this.#perSource.get(peer.source) ?? 0) >= maxPerSource) {
      this.#refuse(peer, RelayErrorCode.SourceLimit, `too many connections from your address (the limit is ${maxPerSource})`);
    }
    return peer.state !== 'refused';
  }

  #serve(peer: Peer): void {
    const { socket, source } = peer;
    this.#perSource.set(source, (this.#perSource.get(source) ?? 0) + 1);
    this.#peers.add(peer);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    peer.timer = setTimeout(() => this.#refuse(peer, RelayErrorCode.HelloTimeout, 'no HELLO in time'), this.#limits.helloTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#data(peer, chunk));
    socket.on('end', () => this.#ended(peer));
    socket.once('close', () => {
      this.#sourceClosed(source);
      this.#closed(peer);
    });
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#sockets.size === 0) for (const resolve of this.#whenEmpty.splice(0)) resolve();
    });
  }

  #sourceClosed(source: string): void {
    const left = (this.#perSource.get(source) ?? 1) - 1;
    if (left === 0) this.#perSource.delete(source);
    else this.#perSource.set(source, left);
  }

  #empty(): Promise<void> {
    return this.#sockets.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  #data(peer: Peer, chunk: Buffer): void {
    switch (peer.state) {
      case 'hello':
        return this.#helloData(peer, chunk);
      case 'waiting':
        return this.#earlyData(peer, chunk);
      case 'paired':
        return this.#forward(peer, chunk);
      case 'refused':
        return;
    }
  }

  #helloData(peer: Peer, chunk: Buffer): void {
    peer.decoder.push(chunk);
    let hello;
    try {
      hello = peer.decoder.next();
    } catch (error) {
      return this.#refuse(peer, RelayErrorCode.BadHello, (error as Error).message);
    }
    if (hello === undefined) return;
    clearTimeout(peer.timer);
    if (hello.type !== 'hello') return this.#refuse(peer, RelayErrorCode.BadHello, 'expected HELLO');
    if (hello.mode === 'unknown') {
      return this.#refuse(peer, RelayErrorCode.UnsupportedVersion, `relay protocol version ${hello.version} is not supported; this relay speaks version 1`);
    }
    const early = peer.decoder.takeRest();
    if (early.length > this.#limits.maxEarlyBytes) return this.#refuse(peer, RelayErrorCode.SentBeforePaired, this.#earlyMessage());
    if (early.length > 0) {
      peer.early.push(early);
      peer.earlyBytes = early.length;
    }
    this.#hello(peer, hello);
  }

  #hello(peer: Peer, hello: Hello): void {
    if (hello.mode === 'claim' && hello.nameplate > MAX_NAMEPLATE) {
      return this.#refuse(peer, RelayErrorCode.BadHello, `nameplate ${hello.nameplate} is above ${MAX_NAMEPLATE}`);
    }
    const room = hello.mode === 'claim' ? this.#rooms.get(hello.nameplate) : undefined;
    if (room === undefined) return this.#open(peer, hello.mode === 'claim' ? hello.nameplate : undefined);
    if (room.second !== undefined || room.reason !== undefined) {
      return this.#refuse(peer, RelayErrorCode.RoomFull, `nameplate ${room.nameplate} already has two peers`, room.nameplate);
    }
    this.#pair(room, peer);
  }

  /** A new room with `peer` waiting in it, under `claimed` or a nameplate the relay picks. */
  #open(peer: Peer, claimed: number | undefined): void {
    if (this.#waiting >= this.#limits.maxWaitingRooms) {
      return this.#refuse(peer, RelayErrorCode.Busy, 'the relay has too many rooms waiting; try again later', claimed);
    }
    const nameplate = claimed ?? this.#allocate();
    if (nameplate === undefined) return this.#refuse(peer, RelayErrorCode.Busy, 'the relay has no free nameplate; try again later');
    const room = new Room(nameplate, peer);
    this.#rooms.set(nameplate, room);
    this.#waiting++;
    peer.room = room;
    peer.state = 'waiting';
    peer.socket.write(encodeWaiting(nameplate));
    room.deadline = setTimeout(() => this.#expire(room, 'wait-timeout', RelayErrorCode.WaitTimeout, 'no partner joined in time'), this.#limits.waitTimeoutMs);
  }

  /**
   * A random free nameplate of as few digits as keeps rooms sparse (at most a quarter of the range in use):
   * three digits while under 250 rooms are open. Random rather than smallest-free, so that a stale code (from a
   * room that expired) seldom meets a new room.
   */
  #allocate(): number | undefined {
    for (let top = 999; top <= MAX_NAMEPLATE; top = top * 10 + 9) {
      if (this.#rooms.size >= top / 4) continue;
      for (let attempt = 0; attempt < 64; attempt++) {
        const nameplate = randomInt(1, top + 1);
        if (!this.#rooms.has(nameplate)) return nameplate;
      }
    }
    return undefined;
  }

  #earlyData(peer: Peer, chunk: Buffer): void {
    const room = peer.room as Room;
    if (peer.earlyBytes + chunk.length > this.#limits.maxEarlyBytes) {
      return this.#expire(room, 'sent-before-paired', RelayErrorCode.SentBeforePaired, this.#earlyMessage());
    }
    peer.early.push(chunk);
    peer.earlyBytes += chunk.length;
  }

  #earlyMessage(): string {
    return `more than ${this.#limits.maxEarlyBytes} bytes sent before the partner joined`;
  }

  // ---- pairing and forwarding -------------------------------------------------------------------------------

  #pair(room: Room, second: Peer): void {
    clearTimeout(room.deadline);
    this.#waiting--;
    room.second = second;
    second.room = room;
    const limits = this.#roomLimits();
    if (limits.rate > 0) room.bucket = new TokenBucket(limits.rate);
    room.lastActivity = performance.now();
    for (const [peer, other] of [[room.first, second], [second, room.first]] as const) {
      peer.state = 'paired';
      peer.socket.write(encodePaired(limits));
      for (const chunk of other.early.splice(0)) this.#forward(other, chunk);
    }
    if (limits.lifetimeMs > 0) room.deadline = setTimeout(() => this.#end(room, 'lifetime'), limits.lifetimeMs);
    if (limits.idleMs > 0) this.#watchIdle(room, limits.idleMs);
    this.emit('paired', { nameplate: room.nameplate });
  }

  #roomLimits(): RoomLimits {
    const l = this.#limits;
    return { maxBytes: l.maxRoomBytes, rate: l.roomRate, lifetimeMs: l.roomLifetimeMs, idleMs: l.idleTimeoutMs, halfOpenGraceMs: l.halfOpenGraceMs };
  }

  /** Closes the room once no byte has moved either way for `idleMs`. */
  #watchIdle(room: Room, idleMs: number): void {
    const check = (): void => {
      const quiet = performance.now() - room.lastActivity;
      if (quiet >= idleMs) return this.#end(room, 'idle');
      room.idleTimer = setTimeout(check, idleMs - quiet);
    };
    room.idleTimer = setTimeout(check, idleMs);
  }

  /** Copies one chunk to the partner; pauses the sender while the partner is full or the room over its rate. */
  #forward(from: Peer, chunk: Buffer): void {
    const room = from.room as Room;
    const to = room.partner(from);
    if (to === undefined || room.reason !== undefined) return;
    const max = this.#limits.maxRoomBytes;
    if (max > 0 && room.bytes + chunk.length > max) return this.#end(room, 'byte-limit');
    if (from === room.first) room.fromFirst += chunk.length;
    else room.fromSecond += chunk.length;
    room.lastActivity = performance.now();
    if (!to.socket.writable) return;
    if (!to.socket.write(chunk)) {
      from.hold();
      to.socket.once('drain', () => from.release());
    }
    const wait = room.bucket?.take(chunk.length) ?? 0;
    if (wait > 0) {
      from.hold();
      setTimeout(() => from.release(), wait).unref();
    }
  }

  // ---- ends -------------------------------------------------------------------------------------------------

  /** The peer half-closed: before pairing it left; after, its end is passed on and the grace period starts. */
  #ended(peer: Peer): void {
    const room = peer.room;
    if (peer.state !== 'paired' || room === undefined) {
      peer.socket.destroy();
      return;
    }
    room.partner(peer)?.socket.end();
    this.#startGrace(room);
  }

  #closed(peer: Peer): void {
    peer.closed = true;
    clearTimeout(peer.timer);
    this.#peers.delete(peer);
    const room = peer.room;
    if (room === undefined) return;
    const partner = room.partner(peer);
    if (partner === undefined || partner.closed) return this.#release(room);
    partner.socket.end();
    this.#startGrace(room);
  }

  #startGrace(room: Room): void {
    if (room.reason !== undefined || room.graceTimer !== undefined) return;
    room.graceTimer = setTimeout(() => this.#end(room, 'half-open'), this.#limits.halfOpenGraceMs);
  }

  /**
   * Cuts a paired room now (a limit, the grace after a half-close, shutdown) with a TCP reset, so that each peer
   * sees the cut as an error even while half-open, never as an orderly end of the partner's stream.
   */
  #end(room: Room, reason: CloseReason): void {
    if (room.reason !== undefined) return;
    room.reason = reason;
    room.first.socket.resetAndDestroy();
    room.second?.socket.resetAndDestroy();
  }

  /** Ends a room whose peer is still waiting, telling it why. */
  #expire(room: Room, reason: CloseReason, code: RelayErrorCode, message: string): void {
    if (room.reason !== undefined) return;
    room.reason = reason;
    this.#refuse(room.first, code, message, room.nameplate, false);
  }

  /** Both peers are gone: the nameplate is free again. */
  #release(room: Room): void {
    if (this.#rooms.get(room.nameplate) !== room) return;
    this.#rooms.delete(room.nameplate);
    room.clearTimers();
    const paired = room.second !== undefined;
    if (!paired) this.#waiting--;
    const reason = room.reason ?? (paired ? 'done' : 'left');
    this.emit('room-closed', { nameplate: room.nameplate, reason, fromFirst: room.fromFirst, fromSecond: room.fromSecond, paired, ms: Math.round(performance.now() - room.opened) });
  }

  /**
   * Sends ERROR and closes. What the peer sends meanwhile is read and dropped, so our message is not lost to a
   * reset; the socket is cut after a second at most.
   */
  #refuse(peer: Peer, code: RelayErrorCode, message: string, nameplate?: number, report = true): void {
    if (peer.state === 'refused') return;
    peer.state = 'refused';
    clearTimeout(peer.timer);
    const { socket } = peer;
    if (report) this.emit('refused', { peer: peer.name, code: RELAY_ERROR_NAMES[code], message, ...(nameplate === undefined ? {} : { nameplate }) });
    socket.resume();
    socket.end(encodeError(code, message));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }
}

