/** Helpers for relay tests: an in-process relay that records its events, raw peers, joined pairs. */
import { connect, type Socket } from 'node:net';
import { joinRelay, type JoinOptions, type RelayConnection } from '../../src/relay/client.js';
import { RelayServer, type RelayEvents, type RelayOptions } from '../../src/relay/server.js';
import { RelayDecoder, encodeHello, type RelayMessage } from '../../src/relay/wire.js';

export interface Running {
  relay: RelayServer;
  port: number;
  events: { [K in keyof RelayEvents]: RelayEvents[K][0][] };
  close(): Promise<void>;
}

export async function startRelay(options: RelayOptions = {}): Promise<Running> {
  const relay = new RelayServer({ host: '127.0.0.1', port: 0, ...options });
  const events: Running['events'] = { paired: [], 'room-closed': [], refused: [] };
  relay.on('paired', (e) => events.paired.push(e));
  relay.on('room-closed', (e) => events['room-closed'].push(e));
  relay.on('refused', (e) => events.refused.push(e));
  const { port } = await relay.listen();
  return { relay, port, events, close: () => relay.close(0) };
}

/**
 * joinRelay, with the socket's errors absorbed: rooms are reset when a test's relay closes, and a reset with no
 * listener would be an uncaught exception. Tests that expect an error listen for it themselves.
 */
export async function join(options: JoinOptions): Promise<RelayConnection> {
  const connection = await joinRelay(options);
  connection.socket.on('error', () => undefined);
  return connection;
}

/** Two peers joined through the relay: the first allocates a nameplate, the second claims it. */
export async function pair(port: number, timeoutMs = 5000, allowHalfOpen = false): Promise<[RelayConnection, RelayConnection]> {
  let resolveNameplate: (n: number) => void = () => undefined;
  const nameplate = new Promise<number>((resolve) => (resolveNameplate = resolve));
  const first = join({ host: '127.0.0.1', port, allocate: true, timeoutMs, allowHalfOpen, onWaiting: resolveNameplate });
  const second = join({ host: '127.0.0.1', port, nameplate: await nameplate, timeoutMs, allowHalfOpen });
  return Promise.all([first, second]);
}

/** A peer speaking the relay protocol by hand: sends `bytes`, collects what comes back. */
export class RawPeer {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  readonly closed: Promise<void>;
  readonly ended: Promise<void>;

  constructor(port: number, localAddress = '127.0.0.1') {
    this.socket = connect({ host: '127.0.0.1', port, localAddress });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (d: Buffer) => this.received.push(d));
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.ended = new Promise((resolve) => this.socket.once('end', () => resolve()));
  }

  static async open(port: number, localAddress?: string): Promise<RawPeer> {
    const peer = new RawPeer(port, localAddress);
    await new Promise<void>((resolve, reject) => {
      peer.socket.once('connect', resolve);
      peer.socket.once('error', reject);
    });
    return peer;
  }

  hello(nameplate?: number): this {
    this.socket.write(encodeHello(nameplate === undefined ? { mode: 'allocate' } : { mode: 'claim', nameplate }));
    return this;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** The relay messages received so far, and the bytes after PAIRED. */
  messages(): { messages: RelayMessage[]; rest: Buffer } {
    const decoder = new RelayDecoder('peer');
    decoder.push(this.bytes);
    const messages: RelayMessage[] = [];
    for (let m; messages.at(-1)?.type !== 'paired' && (m = decoder.next()) !== undefined; ) messages.push(m);
    return { messages, rest: decoder.takeRest() };
  }
}

export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads a socket to its end; resolves with everything. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
  });
}
