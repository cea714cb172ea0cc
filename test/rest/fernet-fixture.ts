import { createHash, randomBytes } from 'node:crypto';
import { Fernet } from '../../src/crypto/fernet.js';
import { pbkdf2Sha256 } from '../../src/crypto/pbkdf2.js';
import { encodeFernetFileHeader, FERNET_MAGIC } from '../../src/rest/fernet-file.js';

/**
 * A Fernet container built by hand, bypassing the writer's checks: its tokens stamped `time` (seconds) under a key
 * derived from `password` with 1,000 iterations, its header claiming `claimed` iterations (any u32).
 */
export async function handMadeFernetFile(content: Buffer, password: string, time: number, claimed = 1000): Promise<Buffer> {
  const salt = randomBytes(16);
  const fernet = new Fernet(await pbkdf2Sha256(password, salt, 1000, 32));
  const record = (kind: number, index: number, body: Buffer) => {
    const prefix = Buffer.alloc(9);
    prefix[0] = kind;
    prefix.writeBigUInt64BE(BigInt(index), 1);
    const token = Buffer.from(fernet.encrypt([prefix, body], { time }), 'latin1');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(token.length);
    return [length, token];
  };
  const end = Buffer.alloc(40);
  createHash('sha256').update(content).digest().copy(end);
  end.writeBigUInt64BE(BigInt(content.length), 32);
  const file = Buffer.concat([encodeFernetFileHeader(1000, salt), ...record(0, 0, content), ...record(1, 1, end)]);
  file.writeUInt32BE(claimed, FERNET_MAGIC.length);
  return file;
}
