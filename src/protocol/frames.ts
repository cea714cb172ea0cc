/**
 * Framing (docs/PROTOCOL.md §2): frame = length (u32 BE, counts type and body) ‖ type (u8) ‖ body.
 * The decoder is an incremental state machine fed arbitrary splits; every length is checked against the cap for
 * its frame type, and the type against the set the session allows at this point, before anything is buffered.
 */
import { IntegrityError } from '../errors.js';
import { byteLength } from '../crypto/bytes.js';
import { ByteQueue } from '../util/byte-queue.js';

export const FrameType = {
  // Handshake, unsealed (§3).
  Greeting: 0x01,
  ClientHello: 0x02,
  ServerHello: 0x03,
  ClientFinish: 0x04,
  Error: 0x0f,
  // After the handshake, sealed control frames (§4).
  Request: 0x10,
  FileHeader: 0x20,
  Offer: 0x21,
  Start: 0x22,
  FileTrailer: 0x25,
  Receipt: 0x26,
  Done: 0x27,
  Notice: 0x28,
  Listing: 0x30,
  SealedError: 0x3f,
  // After the handshake, file content (§4).
  Chunk: 0x23,
  FinalChunk: 0x24,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Content chunk size: 256 KiB (§4; 64 KiB chunks cost 20% more CPU in per-chunk cipher set-up, measured). */
export const CHUNK_SIZE = 256 * 1024;
const TAG = 16;

/** Largest body per type. Handshake caps are what ML-KEM-768 and OPAQUE need and no more (§3). */
export const MAX_BODY: Record<FrameType, number> = {
  [FrameType.Greeting]: 64,
  [FrameType.ClientHello]: 1400,
  [FrameType.ServerHello]: 1500,
  [FrameType.ClientFinish]: 128,
  [FrameType.Error]: 256,
  [FrameType.Request]: 64 * 1024 + TAG,
  [FrameType.FileHeader]: 8 * 1024 + TAG,
  [FrameType.Offer]: 4 * 1024 + TAG,
  [FrameType.Start]: 64,
  [FrameType.FileTrailer]: 64,
  [FrameType.Receipt]: 8 * 1024 + TAG,
  [FrameType.Done]: 64,
  [FrameType.Notice]: 8 * 1024 + TAG,
  [FrameType.Listing]: 64 * 1024 + TAG,
  [FrameType.SealedError]: 1024 + TAG,
  [FrameType.Chunk]: CHUNK_SIZE + TAG,
  [FrameType.FinalChunk]: CHUNK_SIZE + TAG,
};

/** The frame types each side accepts before the handshake completes. */
export const HANDSHAKE_FRAMES = {
  fromServer: new Set<FrameType>([FrameType.Greeting, FrameType.ServerHello, FrameType.Error]),
  fromClient: new Set<FrameType>([FrameType.ClientHello, FrameType.ClientFinish, FrameType.Error]),
};
/**
 * After the handshake: every sealed and content type, and the unsealed Error (a peer that could not verify this
 * side's finish sends one; it carries no authority: the receiver treats it as a cut connection).
 */
export const SESSION_FRAMES = new Set<FrameType>(
  (Object.values(FrameType) as FrameType[]).filter((t) => t >= FrameType.Request || t === FrameType.Error),
);

/** The frame types that carry file content: their bodies are kept in the pieces they arrived in. */
const CONTENT_FRAMES = new Set<FrameType>([FrameType.Chunk, FrameType.FinalChunk]);

/**
 * A decoded frame. A content frame's body (256 KiB) spans several socket reads: it is kept as those pieces and
 * opened piece by piece, as joining it would cost a copy and a large allocation per chunk (docs/PERFORMANCE.md).
 * `body` joins them for a caller that wants one buffer.
 */
export class Frame {
  readonly length: number;
  #body: Buffer | undefined;

  constructor(
    readonly type: FrameType,
    readonly pieces: readonly Buffer[],
  ) {
    this.length = byteLength(pieces);
  }

  static of(type: FrameType, body: Buffer): Frame {
    return new Frame(type, [body]);
  }

  get body(): Buffer {
    return (this.#body ??= this.pieces.length === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces, this.length));
  }
}

/** More pieces than this (a peer trickling tiny reads) are joined: the work and memory per frame stay bounded. */
const MAX_PIECES = 16;

function contentFrame(type: FrameType, pieces: Buffer[], length: number): Frame {
  return new Frame(type, pieces.length > MAX_PIECES ? [Buffer.concat(pieces, length)] : pieces);
}

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
 * @throws IntegrityError MALFORMED on a type not allowed now, or a length of zero or above the type's cap.
 */
export class FrameDecoder {
  readonly #queue = new ByteQueue();
  #header: { type: FrameType; length: number } | undefined;
  /** The types accepted from now on (the session widens it once the peer has authenticated). */
  allowed: ReadonlySet<FrameType>;

  constructor(allowed: ReadonlySet<FrameType>) {
    this.allowed = allowed;
  }

  /** Bytes buffered and not yet returned as frames. */
  get buffered(): number {
    return this.#queue.length;
  }

  /**
   * Adds `data` and returns the complete frames, at most `maxFrames` of them (the rest stays buffered and undecoded:
   * before the handshake completes, a frame's type is only checked once the frames before it were handled).
   */
  push(data: Buffer, maxFrames = Infinity): Frame[] {
    this.#queue.push(data);
    const frames: Frame[] = [];
    while (frames.length < maxFrames) {
      if (this.#header === undefined) {
        if (this.#queue.length < 5) return frames;
        const head = this.#queue.take(5);
        this.#header = checkHeader(head.readUInt32BE(0), head[4] as number, this.allowed);
      }
      if (this.#queue.length < this.#header.length) return frames;
      const { type, length } = this.#header;
      frames.push(CONTENT_FRAMES.has(type) ? contentFrame(type, this.#queue.takePieces(length), length) : Frame.of(type, this.#queue.take(length)));
      this.#header = undefined;
    }
    return frames;
  }

  /** True when no partial frame is buffered (a clean place for the stream to end). */
  get atBoundary(): boolean {
    return this.#header === undefined && this.#queue.length === 0;
  }
}

function checkHeader(length: number, type: number, allowed: ReadonlySet<FrameType>): { type: FrameType; length: number } {
  if (!allowed.has(type as FrameType)) throw new IntegrityError('MALFORMED', `frame type 0x${type.toString(16)} not allowed here`);
  const bodyLength = length - 1;
  if (length === 0 || bodyLength > MAX_BODY[type as FrameType]) {
    throw new IntegrityError('MALFORMED', `frame length ${length} out of range for type 0x${type.toString(16)}`);
  }
  return { type: type as FrameType, length: bodyLength };
}
