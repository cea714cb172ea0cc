import cliProgress from 'cli-progress';

/** Where the CLI reports: progress bars on a TTY, one JSON object per line with --json, a short line otherwise. */
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

  /** A progress bar (or undefined off a TTY); update it with (done, total). */
  bar(label: string, total: number): ((done: number, total: number) => void) | undefined {
    if (!this.interactive) return undefined;
    this.#bars ??= new cliProgress.MultiBar(
      {
        stream: this.#stderr,
        format: ' {label} |{bar}| {percentage}% {done}/{size} {speed}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    const bar = this.#bars.create(total, 0, { label: label.slice(-30).padEnd(30), done: formatBytes(0), size: formatBytes(total), speed: '' });
    return (done, size) => {
      const seconds = (Date.now() - started) / 1000;
      bar.setTotal(size);
      bar.update(done, { done: formatBytes(done), size: formatBytes(size), speed: seconds > 0 ? `${formatBytes(done / seconds)}/s` : '' });
    };
  }

  stopBars(): void {
    this.#bars?.stop();
    this.#bars = undefined;
  }

  /** A machine-readable event (stdout, --json only). */
  event(record: Record<string, unknown>): void {
    if (this.json) this.#stdout.write(JSON.stringify(record) + '\n');
  }

  /** A human line on stderr (not with --json). */
  info(line: string): void {
    if (!this.json) this.#stderr.write(line + '\n');
  }

  warn(line: string): void {
    this.#stderr.write(`warning: ${line}\n`);
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
