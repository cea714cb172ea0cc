// Limits and tolerances of the at-rest formats that mutation testing found unguarded (docs/TESTING.md).
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decrypt, encrypt } from '../../src/rest/files.js';
import { generateIdentity, identityToRecipient, parseIdentity } from '../../src/rest/keys.js';
import { encodeBech32 } from '../../src/rest/recipients/bech32.js';
import { X25519_IDENTITY_PREFIX } from '../../src/rest/recipients/x25519.js';
import { parseSshPublicKey } from '../../src/rest/ssh-keys.js';

function collector() {
  const chunks: Buffer[] = [];
  return { sink: new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }), bytes: () => Buffer.concat(chunks) };
}

async function sealTo(identity: string, armor = false): Promise<Buffer> {
  const sealed = collector();
  await encrypt(Readable.from([Buffer.from('the plaintext')]), sealed.sink, { recipients: [identityToRecipient(identity)], armor });
  return sealed.bytes();
}

async function open(file: Buffer, identity: string): Promise<string> {
  const out = collector();
  await decrypt(Readable.from([file]), out.sink, { identities: [identity] });
  return out.bytes().toString();
}

describe('at-rest limits', () => {
  it('a hybrid (ML-KEM-768 + X25519) stanza whose body is not 32 bytes is MALFORMED', async () => {
    const key = generateIdentity({ postQuantum: true });
    const file = await sealTo(key);
    expect(await open(file, key)).toBe('the plaintext');
    const text = file.toString('latin1');
    const stanza = /-> mlkem768x25519 [^\n]+\n([^\n]+)\n/.exec(text);
    expect(stanza?.[1]).toHaveLength(43);
    const shortBody = Buffer.alloc(31, 7).toString('base64').replace(/=+$/, '');
    const altered = Buffer.from(text.replace(`\n${stanza?.[1] ?? ''}\n`, `\n${shortBody}\n`), 'latin1');
    await expect(open(altered, key)).rejects.toMatchObject({ code: 'MALFORMED', message: expect.stringMatching(/mlkem768x25519 stanza body must be 32 bytes/) });
  });

  it('an X25519 identity that does not hold 32 bytes is refused', () => {
    expect(() => parseIdentity(encodeBech32(X25519_IDENTITY_PREFIX, Buffer.alloc(31, 1), true))).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringMatching(/not 32 bytes/) }));
    expect(() => parseIdentity(encodeBech32(X25519_IDENTITY_PREFIX, Buffer.alloc(32, 1), true))).not.toThrow();
  });

  it('an ssh public key whose field claims more bytes than the key holds is refused as truncated (a usage error: the key is the user input)', () => {
    const field = (bytes: Buffer, claimed = bytes.length) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(claimed);
      return Buffer.concat([length, bytes]);
    };
    const good = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(Buffer.alloc(32, 9))]);
    expect(parseSshPublicKey(`ssh-ed25519 ${good.toString('base64')}`)).toMatchObject({ type: 'ssh-ed25519' });
    const cut = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(Buffer.alloc(31, 9), 32)]);
    expect(() => parseSshPublicKey(`ssh-ed25519 ${cut.toString('base64')}`)).toThrow(expect.objectContaining({ code: 'USAGE', message: 'malformed ssh key: truncated' }));
  });

  it('armor with CRLF, spaces and tabs before and after the block decrypts', async () => {
    const key = generateIdentity();
    const armored = (await sealTo(key, true)).toString('latin1');
    expect(await open(Buffer.from(` \t\r\n${armored.replaceAll('\n', '\r\n')}\r\n \t\n`, 'latin1'), key)).toBe('the plaintext');
  });
});
