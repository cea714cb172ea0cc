import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SecureClient, SecureServer, type ClientOptions, type ServerOptions } from '../../src/index.js';
import { FrameDecoder, FrameType, encodeFrame, Frame } from '../../src/protocol/frames.js';
import { clientFinish, clientHello, passwordCredentials, serverFinish, serverGreeting, serverRespond } from '../../src/protocol/handshake.js';
import { EntryKind, decodeOffer, decodeRequest, encodeFileHeader, encodeRequest, Op, type Offer, type Request } from '../../src/protocol/messages.js';
import { Connection } from '../../src/transfer/connection.js';
import { Session } from '../../src/transfer/session.js';
import { HANDSHAKE_FRAMES } from '../../src/protocol/frames.js';
import { tempDir } from '../helpers.js';

export const ITERATIONS = 1000;

export interface Running {
  server: SecureServer;
  port: number;
  inbox: string;
  errors: { code: string; message: string; peer: string }[];
  close: () => Promise<void>;
}

/** A shared-password server on a free loopback port, PRS with a test-sized PBKDF2 count; get allowed. */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<Running> {
  const inbox = options.dir ?? join(tempDir('sft-inbox-'), 'inbox');
  const secret = options.accounts === undefined && options.passwordKey === undefined ? { password: 'pw' } : {};
  const server = new SecureServer({ ...secret, dir: inbox, port: 0, iterations: ITERATIONS, allowGet: true, ...options });
  const errors: Running['errors'] = [];
  server.on('session-error', (e) => errors.push(e));
  const { port } = await server.listen();
  return { server, port, inbox: server.dir, errors, close: () => server.close(1000) };
}

export function client(port: number, options: Partial<ClientOptions> = {}): SecureClient {
  return new SecureClient({ password: 'pw', host: '127.0.0.1', port, ...options });
}

export async function sendPaths(port: number, paths: string[], options: Partial<ClientOptions> = {}, into?: string) {
  return client(port, options).send(await SecureClient.collect(paths), into === undefined ? {} : { into });
}

/** Every regular file under `root` (relative path → sha-256), the hidden partial folder included. */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** Files received (outside the hidden partial folder) and files left in the partial folder. */
export function inboxState(inbox: string): { received: string[]; partial: string[] } {
  const all = Object.keys(tree(inbox));
  return { received: all.filter((p) => !p.startsWith('.sft-partial/')).sort(), partial: all.filter((p) => p.startsWith('.sft-partial/')) };
}

export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A test-only client speaking the protocol directly: completes the handshake, sends `request`, and returns the
 * authenticated session, so a test can send any frame a hostile client would.
 */
export async function openSession(port: number, request: Request, options: { password?: string; account?: string; localAddress?: string } = {}): Promise<Session> {
  const socket = connect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
  await new Promise((r) => socket.once('connect', r));
  const conn = new Connection(socket, HANDSHAKE_FRAMES.fromServer);
  const greeting = await conn.expect('greeting');
  const pending = await clientHello(greeting.body, { password: options.password ?? 'pw', ...(options.account === undefined ? {} : { account: options.account }) }, ['aes-256-gcm']);
  conn.send(FrameType.ClientHello, [pending.helloBody]);
  const hello = await conn.expect('server hello');
  const { keys, body } = clientFinish(pending, hello.body);
  conn.send(FrameType.ClientFinish, [body]);
  const session = new Session(conn, keys, 'client');
  session.send(FrameType.Request, encodeRequest(request));
  return session;
}

/** Announces one entry with any name and size through a low-level session; returns the receiver's Offer. */
export async function announceFile(port: number, path: string, size = 1, options: { password?: string; account?: string; localAddress?: string } = {}): Promise<Offer> {
  const session = await openSession(port, { op: Op.Put, into: '' }, options);
  try {
    session.send(FrameType.FileHeader, encodeFileHeader({ index: 0, kind: EntryKind.File, path, size, mode: 0o644, mtimeNs: 0n }));
    const reply = await session.next('an offer');
    if (reply.type !== FrameType.Offer) throw new Error(`expected an offer, got 0x${reply.type.toString(16)}`);
    return decodeOffer(reply.body);
  } finally {
    session.conn.socket.destroy();
  }
}

/** Every frame type, for a proxy that must decode what either side sends. */
const ALL_FRAMES = new Set(Object.values(FrameType) as FrameType[]);

export interface ProxyOptions {
  /** Change frames client → server (by type and ordinal of that type). */
  up?: (frame: Frame, ordinal: number) => Frame;
  /** Change frames server → client. */
  down?: (frame: Frame, ordinal: number) => Frame;
  /** Cut both connections after this many bytes client → server (or server → client with cutDown). */
  cutAfter?: number;
  cutDown?: boolean;
}

/** A loopback proxy that re-frames both directions so a test can flip bytes in any frame, or cuts the stream. */
export async function startProxy(target: number, options: ProxyOptions): Promise<{ port: number; server: Server }> {
  const server = createServer((downstream: Socket) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    pipeFrames(downstream, upstream, options.cutDown === true ? undefined : options.cutAfter, options.up);
    pipeFrames(upstream, downstream, options.cutDown === true ? options.cutAfter : undefined, options.down);
    upstream.on('error', () => downstream.destroy());
    downstream.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, server };
}

function pipeFrames(from: Socket, to: Socket, cutAfter: number | undefined, mutate: ProxyOptions['up']): void {
  const decoder = new FrameDecoder(ALL_FRAMES);
  const counts = new Map<number, number>();
  let forwarded = 0;
  from.on('data', (data: Buffer) => {
    if (cutAfter !== undefined) {
      const room = cutAfter - forwarded;
      forwarded += data.length;
      if (room <= data.length) {
        to.write(data.subarray(0, Math.max(0, room)), () => {
          to.destroy();
          from.destroy();
        });
        return;
      }
      to.write(data);
      return;
    }
    if (mutate === undefined) return void to.write(data);
    for (const frame of decoder.push(data)) {
      const n = counts.get(frame.type) ?? 0;
      counts.set(frame.type, n + 1);
      const out = mutate(frame, n);
      to.write(encodeFrame(out.type, out.body));
    }
  });
  from.on('end', () => to.end());
}

export function flipAt(frame: Frame, offset: number): Frame {
  const body = Buffer.from(frame.body);
  const at = offset < 0 ? body.length + offset : Math.min(offset, body.length - 1);
  body[at] = (body[at] as number) ^ 0x01;
  return Frame.of(frame.type, body);
}

/**
 * A test-only server speaking the protocol directly: runs the handshake (shared password 'pw'), reads the request,
 * and hands the authenticated session to `handle`, which may send anything a lying server would.
 */
export async function lyingServer(handle: (session: Session, request: Request) => Promise<void>): Promise<{ port: number; close: () => void; failures: unknown[] }> {
  const credentials = await passwordCredentials('pw', ITERATIONS);
  const failures: unknown[] = [];
  const server = createServer((socket) => {
    void (async () => {
      const conn = new Connection(socket, HANDSHAKE_FRAMES.fromClient);
      const greeting = serverGreeting(credentials);
      conn.send(FrameType.Greeting, [greeting]);
      const response = serverRespond(credentials, greeting, (await conn.expect('hello')).body, ['aes-256-gcm', 'chacha20-poly1305']);
      conn.send(FrameType.ServerHello, [response.body]);
      const { keys } = serverFinish(response.pending, (await conn.expect('finish')).body);
      const session = new Session(conn, keys, 'server');
      await handle(session, decodeRequest((await session.next('request')).body));
    })().catch((error: unknown) => {
      failures.push(error);
      socket.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: () => server.close(), failures };
}
