/**
 * A worker thread that hashes and does the disk I/O of large files, so the main thread only moves frames and runs
 * the AEAD: reading a file to send (SHA-256 as it reads), or writing a received one (SHA-256 as it writes, with an
 * fdatasync every 64 MiB so the final fsync does not wait for a whole file's write-back). Buffers cross between the
 * threads by transfer, not copy, and come back to be used again: a sent file's read buffers, and a received file's
 * write buffers (a buffer transferred and dropped in the worker would wait there for its collector: ~90 MiB more
 * peak RSS for a 1 GiB file). The main thread keeps the file descriptors' ownership (it opens, fsyncs and closes
 * them); the worker only reads or writes at given positions.
 */
import { Worker } from 'node:worker_threads';
import { SftError } from '../errors.js';
import { CHUNK_SIZE } from '../protocol/frames.js';


type ToWorker =
  | { type: 'sink'; id: number; fd: number; position: number }
  | { type: 'write'; id: number; data: ArrayBuffer; length: number }
  | { type: 'finish'; id: number }
  | { type: 'source'; id: number; fd: number; position: number; end: number; buffers: number }
  | { type: 'recycle'; id: number; data: ArrayBuffer }
  | { type: 'close'; id: number };

type FromWorker =
  | { type: 'closed'; id: number }
  | { type: 'written'; id: number; data: ArrayBuffer }
  | { type: 'digest'; id: number; sha256: Uint8Array }
  | { type: 'block'; id: number; data: ArrayBuffer; length: number }
  | { type: 'error'; id: number; code: string; message: string };

/**
 * The worker's code, run with `eval` (plain JavaScript, Node's built-ins only, through process.getBuiltinModule,
 * Node >= 20.16), so the same worker runs from the TypeScript sources and from dist/.
 */
// Stryker disable all: this function's text is the worker's program; mutation testing's instrumentation cannot run there.
function workerMain(this: void): void {
  // An eval'd worker of an ES-module package has neither require nor static imports: built-ins come from here.
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const fs = process.getBuiltinModule('node:fs');
  // Constants live in here: this function's text is all the worker gets.
  const PREFIX_BLOCK = 1024 * 1024;
  /** Bytes written between fdatasyncs, so the final fsync does not wait for a whole file's write-back. */
  const SYNC_EVERY = 64 * 1024 * 1024;
  interface Job { fd: number; position: number; end: number; hash: ReturnType<typeof createHash>; unsynced: number; free: ArrayBuffer[]; reading: boolean }
  const jobs = new Map<number, Job>();
  const post = (message: unknown, transfer: ArrayBuffer[] = []) => parentPort?.postMessage(message, transfer);
  /** The hash must cover the whole file: a resumed one's first bytes are already on disk. */
  const hashPrefix = (job: Job, length: number) => {
    const buffer = Buffer.allocUnsafe(Math.min(PREFIX_BLOCK, Math.max(length, 1)));
    for (let at = 0; at < length; ) {
      const n = fs.readSync(job.fd, buffer, 0, Math.min(buffer.length, length - at), at);
      if (n === 0) throw Object.assign(new Error('the file is shorter than its resume point'), { code: 'EIO' });
      job.hash.update(buffer.subarray(0, n));
      at += n;
    }
  };
  const readBlocks = (id: number, job: Job) => {
    job.reading = true;
    while (job.position < job.end && job.free.length > 0) {
      const data = job.free.pop() as ArrayBuffer;
      const view = Buffer.from(data);
      const n = fs.readSync(job.fd, view, 0, Math.min(view.length, job.end - job.position), job.position);
      if (n === 0) throw Object.assign(new Error('the file shrank while it was being sent'), { code: 'ESHRANK' });
      job.hash.update(view.subarray(0, n));
      job.position += n;
      post({ type: 'block', id, data, length: n }, [data]);
    }
    if (job.position >= job.end) {
      post({ type: 'digest', id, sha256: job.hash.digest() });
      jobs.delete(id);
    }
    job.reading = false;
  };
  parentPort?.on('message', (message: ToWorker) => {
    const job = jobs.get(message.id);
    try {
      switch (message.type) {
        case 'sink': {
          const created: Job = { fd: message.fd, position: message.position, end: 0, hash: createHash('sha256'), unsynced: 0, free: [], reading: false };
          jobs.set(message.id, created);
          hashPrefix(created, message.position);
          break;
        }
        case 'write': {
          if (job === undefined) return;
          const view = Buffer.from(message.data, 0, message.length);
          job.hash.update(view);
          for (let at = 0; at < view.length; ) at += fs.writeSync(job.fd, view, at, view.length - at, job.position + at);
          job.position += view.length;
          job.unsynced += view.length;
          if (job.unsynced >= SYNC_EVERY) {
            fs.fdatasyncSync(job.fd);
            job.unsynced = 0;
          }
          post({ type: 'written', id: message.id, data: message.data }, [message.data]);
          break;
        }
        case 'finish': {
          if (job === undefined) return;
          jobs.delete(message.id);
          post({ type: 'digest', id: message.id, sha256: job.hash.digest() });
          break;
        }
        case 'source': {
          const created: Job = { fd: message.fd, position: message.position, end: message.end, hash: createHash('sha256'), unsynced: 0, free: [], reading: false };
          for (let i = 0; i < message.buffers; i++) created.free.push(new ArrayBuffer(1024 * 1024));
          jobs.set(message.id, created);
          hashPrefix(created, message.position);
          readBlocks(message.id, created);
          break;
        }
        case 'recycle': {
          if (job === undefined) return;
          job.free.push(message.data);
          if (!job.reading) readBlocks(message.id, job);
          break;
        }
        case 'close':
          // Messages are handled in order: every read or write of this job is done; its descriptor may be closed.
          jobs.delete(message.id);
          post({ type: 'closed', id: message.id });
          break;
      }
    } catch (error) {
      jobs.delete(message.id);
      const e = error as NodeJS.ErrnoException;
      post({ type: 'error', id: message.id, code: e.code ?? 'EIO', message: e.message });
    }
  });
}
// Stryker restore all

let shared: FileWorker | undefined;

/**
 * The main thread's side: one worker per process (started on first use, shared by every session, holding the
 * process open only while it has jobs), many jobs, each a file being read or written.
 */
export class FileWorker {
  #worker: Worker | undefined;
  #nextId = 0;
  readonly #listeners = new Map<number, (message: FromWorker) => void>();

  /** The process's file worker. */
  static shared(): FileWorker {
    shared ??= new FileWorker();
    return shared;
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(`(${workerMain.toString()})()`, { eval: true });
    worker.on('message', (message: FromWorker) => this.#listeners.get(message.id)?.(message));
    worker.on('error', (error) => this.#stopped(error));
    worker.on('exit', () => this.#stopped(new SftError('INTERNAL', 'the file worker stopped')));
    this.#worker = worker;
    return worker;
  }

  /** The worker died (it should not): every job fails, and the next one starts a new worker. */
  #stopped(error: Error): void {
    this.#worker = undefined;
    for (const listener of [...this.#listeners.values()]) listener({ type: 'error', id: -1, code: 'EWORKER', message: error.message });
    this.#listeners.clear();
  }

  #send(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.#start().postMessage(message, transfer);
  }

  #job<T extends { receive(message: FromWorker): void }>(make: (send: Send, done: () => void) => T, first: (id: number) => ToWorker): T {
    const id = this.#nextId++;
    const job = make(
      (message, transfer) => this.#send({ ...message, id } as ToWorker, transfer),
      () => {
        this.#listeners.delete(id);
        if (this.#listeners.size === 0) this.#worker?.unref();
      },
    );
    this.#listeners.set(id, (message) => job.receive(message));
    this.#send(first(id));
    this.#worker?.ref();
    return job;
  }

  /** Writes a received file at `fd` from `position` (its first `position` bytes, a resumed prefix, are hashed too). */
  sink(fd: number, position: number): FileSink {
    return this.#job((send, done) => new FileSink(send, done), (id) => ({ type: 'sink', id, fd, position }));
  }

  /** Reads the file at `fd` from `position` to `end`, hashing it whole (from 0). */
  source(fd: number, position: number, end: number): FileSource {
    return this.#job((send, done) => new FileSource(send, done), (id) => ({ type: 'source', id, fd, position, end, buffers: 4 }));
  }
}

type Send = (message: Omit<ToWorker, 'id'> & Record<string, unknown>, transfer?: ArrayBuffer[]) => void;

function workerError(message: Extract<FromWorker, { type: 'error' }>): SftError {
  return Object.assign(new SftError('IO', message.message), { errno: message.code });
}

/** Bytes handed to the worker and not yet written, beyond which write() waits. */
const SINK_BUDGET = 8 * 1024 * 1024;
/**
 * The size of a write buffer: four protocol chunks. Every buffer crosses to the worker and back in two messages,
 * which cost tens of microseconds of CPU on each thread: 1,024 of them per GiB instead of 4,096 at a chunk each.
 */
const SINK_BLOCK = 4 * CHUNK_SIZE;

/** A file being written by the worker. */
export class FileSink {
  #pending = 0;
  readonly #free: ArrayBuffer[] = [];
  /** The buffer being filled, and how much of it is. */
  #current: ArrayBuffer | undefined;
  #filled = 0;
  #error: SftError | undefined;
  #wake: (() => void) | undefined;
  #digest: { resolve: (sha256: Buffer) => void; reject: (error: Error) => void } | undefined;
  #closed: (() => void) | undefined;
  #finished = false;

  constructor(
    private readonly send: Send,
    private readonly done: () => void,
  ) {}

  receive(message: FromWorker): void {
    if (message.type === 'written') {
      this.#pending -= message.data.byteLength;
      this.#free.push(message.data);
    } else if (message.type === 'closed') this.#closed?.();
    else if (message.type === 'digest') {
      this.done();
      this.#digest?.resolve(Buffer.from(message.sha256));
    } else if (message.type === 'error') {
      this.#error = workerError(message);
      this.done();
      this.#digest?.reject(this.#error);
      this.#closed?.();
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * Copies `pieces` into buffers that move to the worker, which writes them (a buffer goes once it is full, or at
   * finish or abort); waits while more than SINK_BUDGET bytes are not yet written.
   */
  async write(pieces: readonly Buffer[]): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    for (const piece of pieces) {
      for (let at = 0; at < piece.length; ) {
        const block = (this.#current ??= this.#free.pop() ?? new ArrayBuffer(SINK_BLOCK));
        const n = Math.min(piece.length - at, block.byteLength - this.#filled);
        new Uint8Array(block, this.#filled, n).set(piece.subarray(at, at + n));
        this.#filled += n;
        at += n;
        if (this.#filled === block.byteLength) this.#flush();
      }
    }
    while (this.#pending > SINK_BUDGET && this.#error === undefined) await new Promise<void>((resolve) => (this.#wake = resolve));
    if (this.#error !== undefined) throw this.#error;
  }

  /** Hands the buffer being filled to the worker. */
  #flush(): void {
    const block = this.#current;
    const length = this.#filled;
    this.#current = undefined;
    this.#filled = 0;
    if (block === undefined) return;
    this.#pending += block.byteLength;
    this.send({ type: 'write', data: block, length }, [block]);
  }

  /** The SHA-256 of the whole file, once everything handed over is written (not yet fsynced). */
  finish(): Promise<Buffer> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    this.#finished = true;
    this.#flush();
    return new Promise((resolve, reject) => {
      this.#digest = { resolve, reject };
      this.send({ type: 'finish' });
    });
  }

  /**
   * Stops: resolves once the worker has done every write handed to it, the buffer being filled included (so a kept
   * partial holds every verified byte, and the caller may close the file, whose descriptor number could otherwise be
   * reused under a write still queued).
   */
  abort(): Promise<void> {
    if (this.#finished || this.#error !== undefined) {
      this.done();
      return Promise.resolve();
    }
    this.#flush();
    return new Promise((resolve) => {
      this.#closed = () => {
        this.done();
        resolve();
      };
      this.send({ type: 'close' });
    });
  }
}

/** A file being read (and hashed) by the worker. */
export class FileSource {
  readonly #blocks: { data: ArrayBuffer; length: number }[] = [];
  #closed: (() => void) | undefined;
  #sha256: Buffer | undefined;
  #error: SftError | undefined;
  #wake: (() => void) | undefined;

  constructor(
    private readonly send: Send,
    private readonly done: () => void,
  ) {}

  receive(message: FromWorker): void {
    if (message.type === 'closed') this.#closed?.();
    else if (message.type === 'block') this.#blocks.push({ data: message.data, length: message.length });
    else if (message.type === 'digest') {
      this.#sha256 = Buffer.from(message.sha256);
      this.done();
      // The worker read to the end and dropped the job: an abort() already asked for is answered now, as the
      // 'closed' that follows finds no listener (and the unref'd worker would leave the caller waiting forever).
      this.#closed?.();
    } else if (message.type === 'error') {
      this.#error = workerError(message);
      this.done();
      this.#closed?.();
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next block read (undefined at the end); give it back with recycle() once its bytes are no longer needed. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const block = this.#blocks.shift();
      if (block !== undefined) return Buffer.from(block.data, 0, block.length);
      if (this.#error !== undefined) throw this.#error;
      if (this.#sha256 !== undefined) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  recycle(block: Buffer): void {
    if (this.#sha256 !== undefined || this.#error !== undefined) return;
    const data = block.buffer as ArrayBuffer;
    this.send({ type: 'recycle', data }, [data]);
  }

  /** The SHA-256 of the whole file, once every block was read. */
  get sha256(): Buffer {
    if (this.#sha256 === undefined) throw new SftError('INTERNAL', 'the file was not read to its end');
    return this.#sha256;
  }

  /** Stops reading: resolves once the worker no longer reads the file (the caller may close it). */
  abort(): Promise<void> {
    if (this.#sha256 !== undefined || this.#error !== undefined) {
      this.done();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#closed = () => {
        this.done();
        resolve();
      };
      this.send({ type: 'close' });
    });
  }
}
