import { readFile } from 'node:fs/promises';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import * as zxcvbnEn from '@zxcvbn-ts/language-en';
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

let zxcvbn: ZxcvbnFactory | undefined;

/** zxcvbn score 0..4 and its advice; scores below 3 get a warning. */
export function passwordStrength(password: string): { score: number; advice: string } {
  zxcvbn ??= new ZxcvbnFactory({
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
    graphs: zxcvbnCommon.adjacencyGraphs,
    translations: zxcvbnEn.translations,
  });
  const result = zxcvbn.check(password.slice(0, 256));
  const advice = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
  return { score: result.score, advice };
}
