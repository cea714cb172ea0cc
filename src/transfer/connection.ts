import type { Socket } from 'node:net';
import { NetworkError, SftError } from '../errors.js';
import { byteLength } from '../crypto/bytes.js';
import { FrameDecoder, FrameType, MAX_BODY, frameHeader, type Frame } from '../protocol/frames.js';

/** Stop reading from the socket while this many bytes of decoded frames wait to be consumed (after the handshake). */
export const SESSION_HIGH_WATER = 4 * 1024 * 1024;
/** Before the peer has authenticated: the largest handshake frame and nothing more. */
export const HANDSHAKE_HIGH_WATER = MAX_BODY[FrameType.ClientHello] + 5;

/**
 * Frames over a socket, with backpressure both ways: reading pauses while the consumer is behind, and callers
 * await drained() when send() says the socket's buffer is full. Until authenticated() is called, only the
 * handshake frame types are accepted and next to nothing is buffered.
 */
export class Connection {
  readonly socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #frames: Frame[] = [];
  #queued = 0;
  #highWater = HANDSHAKE_HIGH_WATER;
  /**
   * Before authentication frames are decoded one at a time, each when the previous one was taken, and each frame
   * written leaves at once; after it, frames written in one event-loop turn are flushed together at its end.
   */
  #authenticated = false;
  #ended = false;
  #corked = false;
  #error: SftError | undefined;
  #wake: (() => void) | undefined;

  /** `initial`: bytes already read from the socket (the client reads the first ones itself to recognise the peer). */
  constructor(socket: Socket, allowed: ReadonlySet<FrameType>, initial?: Buffer) {
    this.socket = socket;
    this.#decoder = new FrameDecoder(allowed);
    if (initial !== undefined) this.#read(initial);
    socket.on('data', (data: Buffer) => this.#read(data));
    socket.on('end', () => {
      this.#ended = true;
      if (!this.#decoder.atBoundary) this.#error ??= new NetworkError('NETWORK', 'connection closed in the middle of a frame');
      this.#notify();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#error ??= new NetworkError('NETWORK', `connection failed: ${networkWords(error)}`, { cause: error });
      this.#notify();
    });
    socket.on('close', () => {
      if (!this.#ended) this.#error ??= new NetworkError('NETWORK', 'connection closed by the peer');
      this.#ended = true;
      this.#notify();
    });
  }

  #read(data: Buffer): void {
    try {
      const limit = this.#authenticated ? Infinity : Math.max(0, 1 - this.#frames.length);
      for (const frame of this.#decoder.push(data, limit)) {
        this.#frames.push(frame);
        this.#queued += frame.length;
      }
    } catch (error) {
      this.fail(error as SftError);
      return;
    }
    if (this.#queued + this.#decoder.buffered > this.#highWater) this.socket.pause();
    this.#notify();
  }

  /** The peer proved the key: accept the session's frame types and buffer more. */
  authenticated(allowed: ReadonlySet<FrameType>): void {
    this.#decoder.allowed = allowed;
    this.#highWater = SESSION_HIGH_WATER;
    this.#authenticated = true;
    this.#read(Buffer.alloc(0));
    if (this.socket.isPaused() && !this.socket.destroyed) this.socket.resume();
  }

  /** True once the peer's end of stream arrived (a peer that sends its hello and closes cannot finish). */
  get peerEnded(): boolean {
    return this.#ended || this.socket.readableEnded;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next frame; undefined when the peer ended the stream cleanly. @throws the connection's error. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      if (this.#frames.length === 0 && !this.#authenticated && this.#decoder.buffered > 0) this.#read(Buffer.alloc(0));
      const frame = this.#frames.shift();
      if (frame !== undefined) {
        this.#queued -= frame.length;
        if (this.#queued < this.#highWater / 2 && this.socket.isPaused() && !this.socket.destroyed) this.socket.resume();
        return frame;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** The next frame, which must be there. @throws NetworkError at end of stream. */
  async expect(what: string): Promise<Frame> {
    const frame = await this.next();
    if (frame === undefined) throw new NetworkError('NETWORK', `connection closed while waiting for ${what}`);
    return frame;
  }

  /**
   * Writes one frame; returns false when the caller should await drained(). After authentication the frames of
   * one event-loop turn leave in one write: a small file's header, chunk and trailer, or a batch of receipts, cost
   * one system call instead of one each (10,000 files: ~30,000 fewer writes on each side).
   */
  send(type: FrameType, pieces: readonly Buffer[]): boolean {
    if (this.socket.destroyed) return true;
    const length = byteLength(pieces);
    this.#cork();
    let ok = this.socket.write(frameHeader(type, length));
    for (const piece of pieces) ok = this.socket.write(piece);
    if (!this.#authenticated) this.#uncork();
    return ok;
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.socket.cork();
    if (this.#authenticated) setImmediate(this.#uncork);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.socket.uncork();
  };

  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        if (this.#error !== undefined || this.socket.destroyed) reject(this.#error ?? new NetworkError('NETWORK', 'connection closed'));
        else resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Fails the connection: pending and later next() calls throw `error`, and the socket is destroyed. */
  fail(error: SftError): void {
    this.#error ??= error;
    this.socket.destroy();
    this.#notify();
  }

  /** Ends our side after everything written has been flushed. */
  end(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }
}

/** A socket error in words (no bare errno). */
export function networkWords(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNRESET':
      return 'the connection was reset by the peer';
    case 'EPIPE':
      return 'the peer closed the connection';
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    default:
      return error.code ?? error.message;
  }
}
