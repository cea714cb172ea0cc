/**
 * Input cut into batches of whole STREAM chunks, read into buffers that are used again and again: no buffer per
 * read for the garbage collector, and no copy to reassemble a chunk that straddles two reads. A batch is valid until
 * the next call to next(). Files are read at their offsets, one batch ahead, on the thread pool; streams are
 * copied in.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ByteSource } from './io.js';

export interface Batch {
  /** Whole chunks, except in the last batch, whose final chunk may be short (or which may be empty). */
  data: Buffer;
  /** No input follows this batch. */
  last: boolean;
}

export interface Batches {
  next(): Promise<Batch>;
}

/** How many chunks a batch holds: 1 MiB of 64 KiB chunks, the read size that keeps the thread pool busy. */
export const CHUNKS_PER_BATCH = 16;

/** A file from `position` to `size` (its size when opened), one batch read ahead into the other of two buffers. */
export class FileBatches implements Batches {
  readonly #handle: FileHandle;
  readonly #buffers: [Buffer, Buffer];
  readonly #size: number;
  readonly #report: ((bytes: number) => void) | undefined;
  #position: number;
  #turn = 0;
  #ahead: Promise<Batch>;

  constructor(handle: FileHandle, position: number, size: number, batchSize: number, report?: (bytes: number) => void) {
    this.#handle = handle;
    this.#buffers = [Buffer.allocUnsafe(batchSize), Buffer.allocUnsafe(batchSize)];
    this.#size = size;
    this.#report = report;
    this.#position = position;
    this.#ahead = this.#read();
  }

  async next(): Promise<Batch> {
    const batch = await this.#ahead;
    this.#ahead = batch.last ? Promise.resolve({ data: Buffer.alloc(0), last: true }) : this.#read();
    this.#ahead.catch(() => undefined);
    return batch;
  }

  async #read(): Promise<Batch> {
    const buffer = this.#buffers[this.#turn] as Buffer;
    this.#turn ^= 1;
    const want = Math.max(0, Math.min(buffer.length, this.#size - this.#position));
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await this.#handle.read(buffer, filled, want - filled, this.#position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.#position += filled;
    this.#report?.(this.#position);
    // A short read means the file shrank while being read: what is there is all there is.
    return { data: buffer.subarray(0, filled), last: filled < buffer.length || this.#position >= this.#size };
  }
}

/** Any byte source (standard input, armor decoded, …) copied into one buffer a batch at a time. */
export class StreamBatches implements Batches {
  readonly #source: ByteSource;
  readonly #buffer: Buffer;

  constructor(source: ByteSource, batchSize: number) {
    this.#source = source;
    this.#buffer = Buffer.allocUnsafe(batchSize);
  }

  async next(): Promise<Batch> {
    let filled = 0;
    while (filled < this.#buffer.length) {
      const chunk = await this.#source.next();
      if (chunk === undefined) return { data: this.#buffer.subarray(0, filled), last: true };
      const used = chunk.copy(this.#buffer, filled);
      this.#source.unshift(chunk.subarray(used));
      filled += used;
    }
    // Full: the batch is the last one only if nothing follows.
    const more = await this.#source.next();
    if (more === undefined) return { data: this.#buffer, last: true };
    this.#source.unshift(more);
    return { data: this.#buffer, last: false };
  }
}
