/**
 * SSH keys as age's agessh package reads them: public keys in authorized_keys form (`ssh-ed25519 AAAA… comment`,
 * `ssh-rsa AAAA…`), private keys in the OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`, PROTOCOL.key) and, for
 * RSA, PEM (PKCS#1, PKCS#8). Keys protected by a passphrase are refused with a message that says what to do.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { UsageError } from '../errors.js';

export type SshKeyType = 'ssh-ed25519' | 'ssh-rsa';
export const SSH_KEY_TYPES: readonly SshKeyType[] = ['ssh-ed25519', 'ssh-rsa'];

/** `blob` is the key in the SSH wire format (RFC 4253 §6.6), what fingerprints and age's tweak hash. */
export type SshPublicKey = { type: 'ssh-ed25519'; blob: Buffer; point: Buffer } | { type: 'ssh-rsa'; blob: Buffer; key: KeyObject };

export type SshPrivateKey =
  | { type: 'ssh-ed25519'; publicKey: SshPublicKey & { type: 'ssh-ed25519' }; seed: Buffer }
  | { type: 'ssh-rsa'; publicKey: SshPublicKey & { type: 'ssh-rsa' }; key: KeyObject };

function malformed(what: string): UsageError {
  return new UsageError(`malformed ssh key: ${what}`);
}

/** Reads the SSH wire encoding (RFC 4251 §5): uint32, string, mpint. Every length is checked against what is left. */
class WireReader {
  #offset = 0;
  constructor(readonly bytes: Buffer) {}

  uint32(): number {
    if (this.#offset + 4 > this.bytes.length) throw malformed('truncated');
    const value = this.bytes.readUInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  string(): Buffer {
    const length = this.uint32();
    if (length > this.bytes.length - this.#offset) throw malformed('truncated');
    const value = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  /** An mpint as unsigned big-endian bytes without leading zeros (what JWK wants). */
  mpint(): Buffer {
    const value = this.string();
    let start = 0;
    while (start < value.length && value[start] === 0) start++;
    return value.subarray(start);
  }

  get rest(): number {
    return this.bytes.length - this.#offset;
  }
}

function wireString(data: Buffer | string): Buffer {
  const bytes = Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An mpint from unsigned big-endian bytes: a leading zero when the top bit is set. */
function wireMpint(unsigned: Buffer): Buffer {
  return wireString((unsigned[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), unsigned]) : unsigned);
}

/** age's ssh stanza tag: the first 4 bytes of SHA-256 of the wire-format public key, unpadded base64. */
export function sshTag(key: SshPublicKey): string {
  return createHash('sha256').update(key.blob).digest().subarray(0, 4).toString('base64').replace(/=+$/, '');
}

function rsaPublicKey(n: Buffer, e: Buffer): KeyObject {
  const key = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
  // age refuses keys under 2048 bits.
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new UsageError('ssh-rsa key is shorter than 2048 bits');
  return key;
}

/** Decodes a wire-format public key blob. */
export function parseSshPublicKeyBlob(blob: Buffer): SshPublicKey {
  const reader = new WireReader(blob);
  const type = reader.string().toString('latin1');
  if (type === 'ssh-ed25519') {
    const point = reader.string();
    if (point.length !== 32 || reader.rest !== 0) throw malformed('ssh-ed25519 key is not 32 bytes');
    return { type, blob, point };
  }
  if (type === 'ssh-rsa') {
    const e = reader.mpint();
    const n = reader.mpint();
    if (reader.rest !== 0) throw malformed('trailing bytes');
    return { type, blob, key: rsaPublicKey(n, e) };
  }
  throw new UsageError(`unsupported ssh key type "${type.slice(0, 40)}" (ssh-ed25519 and ssh-rsa are)`);
}

/** Parses one authorized_keys-style line: `type base64 [comment]`. */
export function parseSshPublicKey(line: string): SshPublicKey {
  const [type, data] = line.trim().split(/\s+/);
  if (type === undefined || data === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw malformed('expected "ssh-ed25519 AAAA…" or "ssh-rsa AAAA…"');
  const key = parseSshPublicKeyBlob(Buffer.from(data, 'base64'));
  if (key.type !== type) throw malformed(`the key says ${key.type}, the line ${type}`);
  return key;
}

const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

function passphraseProtected(): UsageError {
  return new UsageError(
    'the ssh private key is protected by a passphrase, which sft does not read: decrypt a copy with ' +
      "`ssh-keygen -p -N '' -f COPY` (and keep that copy safe), or use an age identity (`sft keygen`)",
  );
}

/** Parses an OpenSSH private key (PROTOCOL.key) or a PEM RSA key. @throws UsageError, naming what is wrong. */
export function parseSshPrivateKey(pem: string): SshPrivateKey {
  const match = /-----BEGIN ([A-Z ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem);
  if (match === null) throw malformed('no PEM block');
  if (match[1] !== 'OPENSSH PRIVATE KEY') return parsePemRsa(pem, match[2] ?? '');
  const bytes = Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64');
  if (!bytes.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) throw malformed('not an openssh-key-v1 key');
  return parseOpenSsh(new WireReader(bytes.subarray(OPENSSH_MAGIC.length)));
}

function parseOpenSsh(reader: WireReader): SshPrivateKey {
  const cipher = reader.string().toString('latin1');
  reader.string(); // kdf name
  reader.string(); // kdf options
  if (cipher !== 'none') throw passphraseProtected();
  if (reader.uint32() !== 1) throw malformed('more than one key in the file');
  const publicKey = parseSshPublicKeyBlob(Buffer.from(reader.string()));
  const secret = new WireReader(reader.string());
  if (secret.uint32() !== secret.uint32()) throw malformed('check integers differ');
  const type = secret.string().toString('latin1');
  if (type !== publicKey.type) throw malformed('private and public parts differ in type');
  if (publicKey.type === 'ssh-ed25519') {
    const point = secret.string();
    const both = secret.string();
    if (both.length !== 64 || !point.equals(publicKey.point) || !both.subarray(32).equals(point)) throw malformed('ssh-ed25519 private part does not match');
    return { type: publicKey.type, publicKey, seed: Buffer.from(both.subarray(0, 32)) };
  }
  const [n, e, d, qi, p, q] = [secret.mpint(), secret.mpint(), secret.mpint(), secret.mpint(), secret.mpint(), secret.mpint()];
  return { type: publicKey.type, publicKey, key: rsaPrivateKey({ n, e, d, p, q, qi }) };
}

/** OpenSSH stores n, e, d, iqmp, p, q; JWK also wants d mod (p-1) and d mod (q-1). */
function rsaPrivateKey(k: { n: Buffer; e: Buffer; d: Buffer; p: Buffer; q: Buffer; qi: Buffer }): KeyObject {
  const big = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
  const bytes = (v: bigint) => {
    const hex = v.toString(16);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  };
  const d = big(k.d);
  const jwk = { kty: 'RSA', n: k.n, e: k.e, d: k.d, p: k.p, q: k.q, qi: k.qi, dp: bytes(d % (big(k.p) - 1n)), dq: bytes(d % (big(k.q) - 1n)) };
  try {
    return createPrivateKey({ key: Object.fromEntries(Object.entries(jwk).map(([name, v]) => [name, typeof v === 'string' ? v : v.toString('base64url')])), format: 'jwk' });
  } catch {
    throw malformed('invalid ssh-rsa private key');
  }
}

function parsePemRsa(pem: string, body: string): SshPrivateKey {
  if (/ENCRYPTED/.test(pem) && /Proc-Type|ENCRYPTED PRIVATE KEY/.test(pem)) throw passphraseProtected();
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw malformed(`unreadable PEM key${body.length === 0 ? ' (empty)' : ''}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new UsageError(`unsupported PEM key type ${key.asymmetricKeyType ?? 'unknown'}: use an OpenSSH key or an age identity`);
  const jwk = key.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n ?? '', 'base64url');
  const e = Buffer.from(jwk.e ?? '', 'base64url');
  const blob = Buffer.concat([wireString('ssh-rsa'), wireMpint(e), wireMpint(n)]);
  return { type: 'ssh-rsa', publicKey: { type: 'ssh-rsa', blob, key: rsaPublicKey(n, e) }, key };
}
