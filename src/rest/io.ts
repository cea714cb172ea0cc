/**
 * Where encrypted and decrypted bytes come from and go to: files (read in large chunks; written to a hidden
 * temporary file beside the output that is moved into place only when everything checked) or streams (standard
 * input and output, with backpressure). Checks on paths run before any key is derived or any byte is read.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, link, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InterruptedError, SftError } from '../errors.js';
import { errnoCode, fileError } from '../util/fs-errors.js';

/** Large reads: each one is a thread-pool round trip, so 64 KiB reads leave the CPU idle half the time. */
export const READ_SIZE = 1024 * 1024;

/** The output exists and the caller did not ask to replace it. */
export class OutputExistsError extends SftError {
  constructor(readonly path: string) {
    super('IO', `output exists: ${path} (set overwrite to replace it)`);
  }
}

export interface PathChecks {
  /** The input's permission bits and size, when it is a regular file. */
  mode?: number;
  size?: number;
}

/**
 * Checks, before any work: the input is a readable file, not a directory; the output does not exist (unless
 * `overwrite`), is not a directory, and its directory exists and is writable.
 * @throws SftError IO in words with the caller's own path, OutputExistsError.
 */
export async function checkPaths(input: string | undefined, output: string | undefined, overwrite: boolean): Promise<PathChecks> {
  const checks: PathChecks = {};
  if (input !== undefined) {
    const info = await stat(input).catch((error: unknown) => {
      throw fileError(error, 'read', input);
    });
    if (info.isDirectory()) throw new SftError('IO', `${input} is a directory`);
    await access(input, fsConstants.R_OK).catch((error: unknown) => {
      throw fileError(error, 'read', input);
    });
    if (info.isFile()) Object.assign(checks, { mode: info.mode & 0o777, size: info.size });
  }
  if (output !== undefined) {
    const existing = await stat(output).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw fileError(error, 'write', output);
    });
    if (existing?.isDirectory()) throw new SftError('IO', `${output} is a directory`);
    if (existing !== undefined && !overwrite) throw new OutputExistsError(output);
    const directory = dirname(output);
    const parent = await stat(directory).catch((error: unknown) => {
      throw new SftError('IO', `cannot write ${output}: ${errnoCode(error) === 'ENOENT' ? `the directory ${directory} does not exist` : (fileError(error, 'write', output) as Error).message}`);
    });
    if (!parent.isDirectory()) throw new SftError('IO', `cannot write ${output}: ${directory} is not a directory`);
    await access(directory, fsConstants.W_OK).catch((error: unknown) => {
      const code = errnoCode(error);
      const why = code === 'EROFS' ? 'the file system is read-only' : code === 'EACCES' ? `the directory ${directory} is not writable` : undefined;
      throw why === undefined ? fileError(error, 'write', output) : new SftError('IO', `cannot write ${output}: ${why}`);
    });
  }
  return checks;
}

/** A readable stream's chunks as Buffers; an abort destroys the stream. */
export async function* readStreamChunks(stream: Readable | NodeJS.ReadableStream, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const onAbort = () => (stream as Readable).destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      throwIfAborted(signal);
      yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    }
    throwIfAborted(signal);
  } catch (error) {
    if (signal?.aborted === true) throw interrupted(signal);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Bytes read ahead can be handed back: the format sniffer and the header reader read past what they need. */
export class ByteSource {
  readonly #iterator: AsyncIterator<Buffer>;
  readonly #unread: Buffer[] = [];

  constructor(chunks: AsyncIterable<Buffer>) {
    this.#iterator = chunks[Symbol.asyncIterator]();
  }

  async next(): Promise<Buffer | undefined> {
    const unread = this.#unread.shift();
    if (unread !== undefined) return unread;
    const { done, value } = await this.#iterator.next();
    return done === true ? undefined : value;
  }

  unshift(data: Buffer): void {
    if (data.length > 0) this.#unread.unshift(data);
  }

  /** Exactly `length` bytes, or fewer at the end of input. */
  async read(length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < length) {
      const chunk = await this.next();
      if (chunk === undefined) break;
      const used = Math.min(chunk.length, length - have);
      parts.push(chunk.subarray(0, used));
      this.unshift(chunk.subarray(used));
      have += used;
    }
    return Buffer.concat(parts);
  }

  async *rest(): AsyncGenerator<Buffer> {
    for (let chunk = await this.next(); chunk !== undefined; chunk = await this.next()) yield chunk;
  }
}

/** Where output bytes go. write() may return before the bytes are written: flush() waits for them. */
export interface Output {
  /**
   * Whether written chunks may stay referenced after write() resolves (a stream's consumer may keep them). When
   * false, a chunk's memory may be reused once the next write() has resolved.
   */
  readonly keepsChunks: boolean;
  write(chunks: readonly Buffer[]): Promise<void>;
  flush(): Promise<void>;
  /** Overwrites bytes already written (files only: the age header written after its payload). */
  writeAt?(bytes: Buffer, position: number): Promise<void>;
}

/**
 * A hidden temporary file beside `path`, on the same file system so the final move is atomic. commit() moves it into
 * place; discard() removes it. One write is kept in flight while the caller computes the next one.
 */
export class FileOutput implements Output {
  readonly keepsChunks = false;
  readonly #path: string;
  readonly #temp: string;
  readonly #handle: FileHandle;
  #inflight: Promise<void> = Promise.resolve();
  #failure: unknown;

  private constructor(path: string, temp: string, handle: FileHandle) {
    this.#path = path;
    this.#temp = temp;
    this.#handle = handle;
  }

  /** @param mode permission bits of the new file (the umask applies). */
  static async create(path: string, mode = 0o666): Promise<FileOutput> {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.sft-tmp`);
    const handle = await open(temp, 'wx', mode).catch((error: unknown) => {
      throw fileError(error, 'write', path);
    });
    return new FileOutput(path, temp, handle);
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    await this.#inflight;
    if (this.#failure !== undefined) throw this.#failure;
    this.#inflight = this.#writeAll(chunks).catch((error: unknown) => {
      this.#failure = fileError(error, 'write', this.#path);
    });
  }

  async flush(): Promise<void> {
    await this.#inflight;
    if (this.#failure !== undefined) throw this.#failure;
  }

  async writeAt(bytes: Buffer, position: number): Promise<void> {
    await this.flush();
    await this.#handle.write(bytes, 0, bytes.length, position);
  }

  async #writeAll(chunks: readonly Buffer[]): Promise<void> {
    let pending = chunks.filter((c) => c.length > 0);
    while (pending.length > 0) {
      let { bytesWritten } = await this.#handle.writev(pending);
      const rest: Buffer[] = [];
      for (const chunk of pending) {
        if (bytesWritten >= chunk.length) bytesWritten -= chunk.length;
        else {
          rest.push(chunk.subarray(bytesWritten));
          bytesWritten = 0;
        }
      }
      pending = rest;
    }
  }

  /** Moves the complete file into place: rename() to replace, link() + unlink to refuse an existing name. */
  async commit(overwrite: boolean): Promise<void> {
    await this.flush();
    await this.#handle.close();
    try {
      if (overwrite) await rename(this.#temp, this.#path);
      else await link(this.#temp, this.#path);
    } catch (error) {
      await rm(this.#temp, { force: true });
      if (errnoCode(error) === 'EEXIST') throw new OutputExistsError(this.#path);
      throw fileError(error, 'write', this.#path);
    }
    if (!overwrite) await rm(this.#temp);
  }

  /** Removes the temporary file; nothing is left where the output would have been. */
  async discard(): Promise<void> {
    await this.#inflight;
    await this.#handle.close().catch(() => undefined);
    await rm(this.#temp, { force: true });
  }
}

/** A writable stream (standard output), with backpressure; an error on the stream fails the next write. */
export class StreamOutput implements Output {
  readonly keepsChunks = true;
  readonly #stream: Writable | NodeJS.WritableStream;
  #failure: unknown;

  constructor(stream: Writable | NodeJS.WritableStream) {
    this.#stream = stream;
    stream.on('error', (error: unknown) => (this.#failure ??= fileError(error, 'write', 'the output')));
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    let ready = true;
    for (const chunk of chunks) if (chunk.length > 0) ready = this.#stream.write(chunk) && ready;
    if (!ready) await drained(this.#stream as Writable);
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits until the stream has handed on every chunk (an empty write's callback comes after the others'). */
  async flush(): Promise<void> {
    if (this.#failure === undefined) await new Promise<void>((resolve) => this.#stream.write(Buffer.alloc(0), () => resolve()));
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** Resolves when `stream` drains, closes or fails, leaving no listener behind. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of ['drain', 'close', 'error']) stream.off(event, done);
      resolve();
    };
    for (const event of ['drain', 'close', 'error']) stream.on(event, done);
  });
}

/** Throws the abort as an InterruptedError (its reason, when that already is one). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw interrupted(signal);
}

export function interrupted(signal: AbortSignal): SftError {
  return signal.reason instanceof SftError ? signal.reason : new InterruptedError();
}

/** `chunks`, reporting the bytes seen so far (and `total`, 0 when unknown) as they pass. */
export async function* counted(chunks: AsyncIterable<Buffer>, total: number, report: ((done: number, total: number) => void) | undefined): AsyncGenerator<Buffer> {
  let done = 0;
  for await (const chunk of chunks) {
    done += chunk.length;
    report?.(done, total);
    yield chunk;
  }
}
