import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../src/transfer/connection.js';
import { FrameDecoder, FrameType, HANDSHAKE_FRAMES, SESSION_FRAMES, type Frame } from '../../src/protocol/frames.js';

/** A connected pair on loopback: our socket, and every frame the peer decodes. */
async function pair(): Promise<{ socket: Socket; received: Frame[]; close: () => void }> {
  const received: Frame[] = [];
  const decoder = new FrameDecoder(new Set([...SESSION_FRAMES, ...HANDSHAKE_FRAMES.fromClient]));
  const server = createServer((peer) => peer.on('data', (data: Buffer) => received.push(...decoder.push(data))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  return {
    socket,
    received,
    close: () => {
      socket.destroy();
      server.close();
    },
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('Connection writes', () => {
  let close = () => undefined as void;
  afterEach(() => close());

  it('sends a handshake frame at once, and after authentication the frames of one turn together at its end', async () => {
    const p = await pair();
    close = p.close;
    const conn = new Connection(p.socket, HANDSHAKE_FRAMES.fromServer);
    conn.send(FrameType.ClientHello, [Buffer.from('hello')]);
    expect(p.socket.writableCorked).toBe(0);

    conn.authenticated(SESSION_FRAMES);
    const frames = [[FrameType.FileHeader, 'header'], [FrameType.Chunk, 'chunk'], [FrameType.FileTrailer, 'trailer']] as const;
    for (const [type, body] of frames) conn.send(type, [Buffer.from(body)]);
    expect(p.socket.writableCorked).toBe(1);
    await nextTurn();
    expect(p.socket.writableCorked).toBe(0);

    await expect.poll(() => p.received.length).toBe(4);
    expect(p.received.map((f) => [f.type, f.body.toString()])).toEqual([[FrameType.ClientHello, 'hello'], ...frames]);
  });

  it('flushes corked frames when the stream is ended in the same turn', async () => {
    const p = await pair();
    close = p.close;
    const conn = new Connection(p.socket, HANDSHAKE_FRAMES.fromServer);
    conn.authenticated(SESSION_FRAMES);
    conn.send(FrameType.SealedError, [Buffer.from('last words')]);
    await conn.end();
    await expect.poll(() => p.received.map((f) => f.body.toString())).toEqual(['last words']);
  });
});
