import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../errors.js';

export interface PasswordSource {
  passwordFile?: string;
  /** Ask twice on a prompt (when the password sets up something new: encryption, a server). */
  confirm: boolean;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
}

/**
 * The password, from (in order) --password-file, SFT_PASSWORD, or a hidden prompt on the terminal. Never argv.
 * @throws UsageError when none is available or the two prompted entries differ.
 */
export async function readPassword(source: PasswordSource): Promise<string> {
  let password: string | undefined;
  if (source.passwordFile !== undefined) {
    const text = await readFile(source.passwordFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read password file ${source.passwordFile}: ${error.code ?? error.message}`);
    });
    password = text.split(/\r?\n/)[0] ?? '';
  } else if (source.env.SFT_PASSWORD !== undefined) {
    password = source.env.SFT_PASSWORD;
    // Not passed on to any process this one starts (sft serve forks its workers with an explicit environment too).
    delete source.env.SFT_PASSWORD;
  } else if (source.stdin.isTTY) {
    password = await prompt('Password: ', source);
    if (source.confirm && (await prompt('Repeat password: ', source)) !== password) throw new UsageError('passwords do not match');
  } else {
    throw new UsageError('no password: set SFT_PASSWORD, pass --password-file, or run on a terminal to be asked');
  }
  if (password.length === 0) throw new UsageError('empty password');
  return password;
}

/** Reads a line from the terminal without echoing it. */
function prompt(question: string, { stdin, stderr }: PasswordSource): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(() => resolve(answer));
        if (char === '\u0003') return finish(() => reject(new UsageError('interrupted')));
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
        else if (char >= ' ') answer += char;
      }
    };
    const finish = (settle: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      settle();
    };
    stdin.on('data', onData);
  });
}

/**
 * zxcvbn score 0..4 and its advice; scores below 3 get a warning. The check runs in a worker thread that ends with
 * it, so that zxcvbn's modules (their word lists live as long as the module that exports them) never enter this
 * thread's heap: loaded here, they made V8 run mark-compacts all through a large transfer (an in-process server
 * receiving 1 GiB: 50-84 instead of 8-9, 4.5-5.3 instead of 3.2-3.3 s of user time; docs/PERFORMANCE.md). The
 * English word lists (another ~0.45 s per run) are left out: the common-password list and keyboard patterns catch
 * what matters, and only the English messages are taken.
 */
export async function passwordStrength(password: string): Promise<{ score: number; advice: string }> {
  const worker = new Worker(`(${strengthMain.toString()})()`, { eval: true, workerData: { password: password.slice(0, 256), from: fileURLToPath(import.meta.url) } });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the password strength check ended with code ${code}`)));
  });
}

/** The worker's program (plain JavaScript once compiled; its text is all the worker gets). */
function strengthMain(this: void): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const require = process.getBuiltinModule('node:module').createRequire((workerData as { from: string }).from);
  const { ZxcvbnFactory } = require('@zxcvbn-ts/core') as typeof import('@zxcvbn-ts/core');
  const common = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
  const translations = require('@zxcvbn-ts/language-en/dist/translations.cjs') as (typeof import('@zxcvbn-ts/language-en'))['translations'];
  const zxcvbn = new ZxcvbnFactory({ dictionary: common.dictionary, graphs: common.adjacencyGraphs, translations });
  const result = zxcvbn.check((workerData as { password: string }).password);
  const advice = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
  parentPort?.postMessage({ score: result.score, advice });
}
