import { printable } from '../util/text.js';

/** A progress display: one bar for the whole operation, the current file beside it, finished files above it. */
export interface Progress {
  update(done: number, total: number, current: string): void;
}

/** Redraws at most this often; lines above the bar are printed at once. */
const REDRAW_MS = 100;
const CLEAR_LINE = '\r\x1b[2K';
/** Longest human line printed; the rest is cut (a path can be 4,096 bytes). */
const MAX_LINE = 8192;

/**
 * One status line at the bottom of the terminal, as rsync's --info=progress2: `label |█████░░░| 42% done/total
 * speed current-file`, cut to the terminal's width so it never wraps; lines logged while it is shown are printed
 * above it. Written here rather than taken from a progress-bar package: it is 40 lines, and it must not install
 * signal handlers or keep timers alive behind the CLI's back.
 */
class StatusLine implements Progress {
  #line = '';
  #drawnAt = 0;
  readonly #started = Date.now();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  update(done: number, total: number, current: string): void {
    const seconds = (Date.now() - this.#started) / 1000;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const speed = seconds > 0 ? `${formatBytes(done / seconds)}/s` : '';
    const text = ` ${this.label} |${'█'.repeat(filled)}${'░'.repeat(width - filled)}| ${Math.floor(fraction * 100)}% ${formatBytes(done)}/${formatBytes(total)} ${speed} ${printable(current, 60)}`;
    this.#line = text.slice(0, Math.max(20, (this.stream.columns ?? 80) - 1));
    if (Date.now() - this.#drawnAt >= REDRAW_MS || fraction === 1) this.#draw();
  }

  log(line: string): void {
    this.stream.write(`${CLEAR_LINE}${line}\n`);
    this.#draw();
  }

  #draw(): void {
    this.#drawnAt = Date.now();
    if (this.#line !== '') this.stream.write(`${CLEAR_LINE}${this.#line}`);
  }

  /** Leaves the final state of the bar on its own line. */
  stop(): void {
    if (this.#line !== '') this.stream.write(`${CLEAR_LINE}${this.#line}\n`);
    this.#line = '';
  }
}

/** Where the CLI reports: a status line on a TTY, one JSON object per line with --json, short lines otherwise. */
export class Reporter {
  readonly json: boolean;
  readonly #stdout: NodeJS.WriteStream;
  readonly #stderr: NodeJS.WriteStream;
  #status: StatusLine | undefined;

  constructor(options: { json: boolean; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream }) {
    this.json = options.json;
    this.#stdout = options.stdout;
    this.#stderr = options.stderr;
  }

  /** True when a status line should be drawn: an interactive stderr and no --json. */
  get interactive(): boolean {
    return !this.json && this.#stderr.isTTY === true;
  }

  /** A progress display (undefined off a TTY or with --json). */
  progress(label: string): Progress | undefined {
    if (!this.interactive) return undefined;
    this.#status = new StatusLine(this.#stderr, label);
    return this.#status;
  }

  /** A single-file bar (encrypt, decrypt): update it with (done, total). */
  bar(label: string): ((done: number, total: number) => void) | undefined {
    const progress = this.progress(label);
    return progress === undefined ? undefined : (done, total) => progress.update(done, total, '');
  }

  /** Ends the status line, leaving its last state. Safe to call more than once. */
  stopBars(): void {
    this.#status?.stop();
    this.#status = undefined;
  }

  /** A machine-readable event (stdout, --json only). */
  event(record: Record<string, unknown>): void {
    if (this.json) this.#stdout.write(JSON.stringify(record, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  }

  /**
   * A human line on stderr (not with --json), above the status line when one is drawn. File names in it, ours or
   * a peer's, may hold control or bidi characters: they are shown escaped, never interpreted by the terminal.
   */
  info(line: string): void {
    if (this.json) return;
    if (this.#status !== undefined) this.#status.log(printable(line, MAX_LINE));
    else this.#stderr.write(printable(line, MAX_LINE) + '\n');
  }

  /** A warning: on stderr always, and as a `warning` event with --json. */
  warn(line: string, details: Record<string, unknown> = {}): void {
    this.event({ event: 'warning', message: line, ...details });
    if (this.#status !== undefined) this.#status.log(`warning: ${printable(line, MAX_LINE)}`);
    else this.#stderr.write(`warning: ${printable(line, MAX_LINE)}\n`);
  }

  /** The one error line of a failed command. */
  error(message: string): void {
    this.#stderr.write(`sft: error: ${printable(message, MAX_LINE)}\n`);
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}
