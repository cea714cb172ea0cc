import cliProgress from 'cli-progress';
import { printable } from '../util/text.js';

/** A progress display: one bar for the whole operation, the current file beside it, finished files above it. */
export interface Progress {
  update(done: number, total: number, current: string): void;
  /** A line printed above the bar (a delivered file, a warning). */
  log(line: string): void;
}

/** Where the CLI reports: a progress bar on a TTY, one JSON object per line with --json, short lines otherwise. */
export class Reporter {
  readonly json: boolean;
  readonly #stdout: NodeJS.WriteStream;
  readonly #stderr: NodeJS.WriteStream;
  #bars: cliProgress.MultiBar | undefined;

  constructor(options: { json: boolean; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream }) {
    this.json = options.json;
    this.#stdout = options.stdout;
    this.#stderr = options.stderr;
  }

  /** True when bars should be drawn: an interactive stderr and no --json. */
  get interactive(): boolean {
    return !this.json && this.#stderr.isTTY === true;
  }

  /** A progress display (undefined off a TTY or with --json), as rsync's --info=progress2: one total bar. */
  progress(label: string): Progress | undefined {
    if (!this.interactive) return undefined;
    const bars = new cliProgress.MultiBar(
      { stream: this.#stderr, format: ' {label} |{bar}| {percentage}% {done}/{size} {speed} {current}', hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    this.#bars = bars;
    const started = Date.now();
    const bar = bars.create(0, 0, { label, done: '', size: '', speed: '', current: '' });
    return {
      update: (done, total, current) => {
        const seconds = (Date.now() - started) / 1000;
        bar.setTotal(total);
        bar.update(done, { done: formatBytes(done), size: formatBytes(total), speed: seconds > 0 ? `${formatBytes(done / seconds)}/s` : '', current: printable(current, 40) });
      },
      log: (line) => bars.log(`${line}\n`),
    };
  }

  /** A single-file bar (encrypt, decrypt): update it with (done, total). */
  bar(label: string): ((done: number, total: number) => void) | undefined {
    const progress = this.progress(label);
    return progress === undefined ? undefined : (done, total) => progress.update(done, total, '');
  }

  /** Stops and releases the bars (their timer would keep the process alive). Safe to call more than once. */
  stopBars(): void {
    this.#bars?.stop();
    this.#bars = undefined;
  }

  /** A machine-readable event (stdout, --json only). */
  event(record: Record<string, unknown>): void {
    if (this.json) this.#stdout.write(JSON.stringify(record, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  }

  /** A human line on stderr (not with --json), above the bar when one is drawn. */
  info(line: string): void {
    if (this.json) return;
    if (this.#bars !== undefined) this.#bars.log(`${line}\n`);
    else this.#stderr.write(line + '\n');
  }

  /** A warning: on stderr always, and as a `warning` event with --json. */
  warn(line: string, details: Record<string, unknown> = {}): void {
    this.event({ event: 'warning', message: line, ...details });
    if (this.#bars !== undefined) this.#bars.log(`warning: ${line}\n`);
    else this.#stderr.write(`warning: ${line}\n`);
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
