/**
 * Framing (docs/PROTOCOL.md §2): frame = length (u32 BE, counts type and body) ‖ type (u8) ‖ body.
 * The decoder is an incremental state machine fed arbitrary splits; every length is checked against the cap for
 * its frame type before anything is buffered.
 */
import { IntegrityError } from '../errors.js';
import { ByteQueue } from '../util/byte-queue.js';

export const FrameType = {
  ClientHello: 0x01,
  ServerHello: 0x02,
  ClientConfirm: 0x03,
  FileHeader: 0x10,
  Chunk: 0x11,
  FinalChunk: 0x12,
  FileTrailer: 0x13,
  Receipt: 0x14,
  Done: 0x15,
  Offer: 0x16,
  Start: 0x17,
  Error: 0x7f,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Largest body per type: handshake and control frames are small; chunks hold 64 KiB of data plus overhead. */
export const MAX_BODY: Record<FrameType, number> = {
  [FrameType.ClientHello]: 256,
  [FrameType.ServerHello]: 256,
  [FrameType.ClientConfirm]: 64,
  [FrameType.FileHeader]: 8 * 1024,
  [FrameType.Chunk]: 96 * 1024,
  [FrameType.FinalChunk]: 96 * 1024,
  [FrameType.FileTrailer]: 256,
  [FrameType.Receipt]: 8 * 1024,
  [FrameType.Done]: 256,
  [FrameType.Offer]: 256,
  [FrameType.Start]: 256,
  [FrameType.Error]: 1024,
};

export interface Frame {
  type: FrameType;
  body: Buffer;
}

const TYPES = new Set<number>(Object.values(FrameType));

/** The 5-byte frame header; write it, then the body's pieces. */
export function frameHeader(type: FrameType, bodyLength: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header.writeUInt32BE(bodyLength + 1, 0);
  header[4] = type;
  return header;
}

export function encodeFrame(type: FrameType, body: Buffer): Buffer {
  return Buffer.concat([frameHeader(type, body.length), body]);
}

/**
 * Incremental frame decoder.
 * @throws IntegrityError MALFORMED on an unknown type, or a length of zero or above the type's cap.
 */
export class FrameDecoder {
  readonly #queue = new ByteQueue();
  #header: { type: FrameType; length: number } | undefined;

  /** Bytes buffered and not yet returned as frames. */
  get buffered(): number {
    return this.#queue.length;
  }

  push(data: Buffer): Frame[] {
    this.#queue.push(data);
    const frames: Frame[] = [];
    for (;;) {
      if (this.#header === undefined) {
        if (this.#queue.length < 5) return frames;
        const head = this.#queue.take(5);
        const length = head.readUInt32BE(0);
        const type = head[4] as number;
        if (!TYPES.has(type)) throw new IntegrityError('MALFORMED', `unknown frame type 0x${type.toString(16)}`);
        const bodyLength = length - 1;
        if (length === 0 || bodyLength > MAX_BODY[type as FrameType]) {
          throw new IntegrityError('MALFORMED', `frame length ${length} out of range for type 0x${type.toString(16)}`);
        }
        this.#header = { type: type as FrameType, length: bodyLength };
      }
      if (this.#queue.length < this.#header.length) return frames;
      frames.push({ type: this.#header.type, body: this.#queue.take(this.#header.length) });
      this.#header = undefined;
    }
  }

  /** True when no partial frame is buffered (a clean place for the stream to end). */
  get atBoundary(): boolean {
    return this.#header === undefined && this.#queue.length === 0;
  }
}
