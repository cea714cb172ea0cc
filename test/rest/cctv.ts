import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { vectorsDir } from '../helpers.js';

export interface CctvVector {
  name: string;
  expect: 'success' | 'no match' | 'HMAC failure' | 'header failure' | 'payload failure' | 'armor failure';
  payload?: string;
  fileKey?: Buffer;
  passphrases: string[];
  identities: string[];
  armored: boolean;
  file: Buffer;
}

/** Reads a C2SP CCTV age vector: "key: value" lines, a blank line, then the (maybe zlib-compressed) age file. */
export function readCctv(name: string): CctvVector {
  const raw = readFileSync(join(vectorsDir, 'age/testdata', name));
  const split = raw.indexOf('\n\n');
  const fields = raw.toString('latin1', 0, split).split('\n').map((line) => {
    const at = line.indexOf(': ');
    return [line.slice(0, at), line.slice(at + 2)] as const;
  });
  const all = (key: string) => fields.filter(([k]) => k === key).map(([, v]) => v);
  const one = (key: string) => all(key)[0];
  let file = raw.subarray(split + 2);
  if (one('compressed') === 'zlib') file = inflateSync(file);
  const fileKey = one('file key');
  const payload = one('payload');
  return {
    name,
    expect: one('expect') as CctvVector['expect'],
    ...(payload === undefined ? {} : { payload }),
    ...(fileKey === undefined ? {} : { fileKey: Buffer.from(fileKey, 'hex') }),
    passphrases: all('passphrase'),
    identities: all('identity'),
    armored: one('armored') === 'yes',
    file,
  };
}

export function cctvNames(): string[] {
  return readdirSync(join(vectorsDir, 'age/testdata')).sort();
}
