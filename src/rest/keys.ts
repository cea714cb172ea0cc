/**
 * Keys as text, as the age CLI reads and writes them: recipient strings (`age1…`, `age1pq1…`, `ssh-ed25519 …`,
 * `ssh-rsa …`), recipients files (one per line, `#` comments, blank lines), identity files (`AGE-SECRET-KEY-1…`,
 * `AGE-SECRET-KEY-PQ-1…`, one per line, comments) and unencrypted SSH private keys; and new identities.
 */
import { UsageError } from '../errors.js';
import { HybridIdentity, HybridRecipient, HYBRID_IDENTITY_PREFIX, HYBRID_RECIPIENT_PREFIX } from './recipients/mlkem768x25519.js';
import type { Identity, Recipient } from './recipients/recipient.js';
import { SshEd25519Identity, SshEd25519Recipient } from './recipients/ssh-ed25519.js';
import { SshRsaIdentity, SshRsaRecipient } from './recipients/ssh-rsa.js';
import { X25519Identity, X25519Recipient, X25519_IDENTITY_PREFIX, X25519_RECIPIENT_PREFIX } from './recipients/x25519.js';
import { parseSshPrivateKey, parseSshPublicKey } from './ssh-keys.js';

/** Names the line a key came from in errors: `keys.txt:3: malformed X25519 recipient …`. */
function at<T>(source: string | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (source !== undefined && error instanceof UsageError) throw new UsageError(`${source}: ${error.message}`);
    throw error;
  }
}

/**
 * A recipient from its text form.
 * @throws UsageError for anything else (an identity given as a recipient included: that would leak it).
 */
export function parseRecipient(text: string, source?: string): Recipient {
  return at(source, () => {
    const value = text.trim();
    // Bech32's alphabet has no "1": the last one separates the human-readable part.
    const hrp = value.slice(0, value.lastIndexOf('1')).toLowerCase();
    if (hrp === HYBRID_RECIPIENT_PREFIX) return new HybridRecipient(value);
    if (hrp === X25519_RECIPIENT_PREFIX) return new X25519Recipient(value);
    if (hrp.startsWith('age1')) throw new UsageError(`unsupported recipient type "${hrp}" (age plugins are not supported)`);
    if (value.startsWith('ssh-ed25519 ') || value.startsWith('ssh-rsa ')) {
      const key = parseSshPublicKey(value);
      return key.type === 'ssh-ed25519' ? new SshEd25519Recipient(key) : new SshRsaRecipient(key);
    }
    if (/^AGE-SECRET-KEY-/i.test(value)) throw new UsageError('this is an identity (a secret key), not a recipient: give its public key (sft keygen -y)');
    throw new UsageError(`unknown recipient "${value.slice(0, 24)}${value.length > 24 ? '…' : ''}" (age1…, age1pq1…, ssh-ed25519 or ssh-rsa)`);
  });
}

/** The lines of a keys file that are not blank and not comments, with their line numbers. */
function keyLines(text: string): { line: string; number: number }[] {
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'));
}

/** Every recipient in a recipients file (`-R`). @throws UsageError naming the file and line of a bad entry. */
export function parseRecipientsFile(text: string, name: string): Recipient[] {
  const recipients = keyLines(text).map(({ line, number }) => parseRecipient(line, `${name}:${number}`));
  if (recipients.length === 0) throw new UsageError(`${name}: no recipients in the file`);
  return recipients;
}

/** An identity from its text form: `AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…`. */
export function parseIdentity(text: string, source?: string): Identity {
  return at(source, () => {
    const value = text.trim();
    if (value.startsWith(`${HYBRID_IDENTITY_PREFIX}1`)) return new HybridIdentity(value);
    if (value.startsWith(`${X25519_IDENTITY_PREFIX}1`)) return new X25519Identity(value);
    if (value.startsWith('AGE-PLUGIN-')) throw new UsageError('age plugin identities are not supported');
    if (value.startsWith('age1')) throw new UsageError('this is a recipient (a public key), not an identity: decrypting needs the secret key');
    throw new UsageError('not an age identity (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)');
  });
}

/**
 * Every identity in an identity file (`-i`): age identities one per line with comments, or one SSH private key
 * (OpenSSH format, or PEM RSA), unencrypted.
 * @throws UsageError naming the file (and line) of what cannot be used, a passphrase-protected SSH key included.
 */
export function parseIdentitiesFile(text: string, name: string): Identity[] {
  if (text.startsWith('age-encryption.org/') || text.trimStart().startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) {
    throw new UsageError(`${name}: the identity file is itself encrypted, which sft does not support: decrypt it first`);
  }
  if (text.trimStart().startsWith('-----BEGIN')) {
    const key = at(name, () => parseSshPrivateKey(text));
    return [key.type === 'ssh-ed25519' ? new SshEd25519Identity(key) : new SshRsaIdentity(key)];
  }
  const identities = keyLines(text).map(({ line, number }) => parseIdentity(line, `${name}:${number}`));
  if (identities.length === 0) throw new UsageError(`${name}: no identities in the file`);
  return identities;
}

/** A new identity: X25519 (`AGE-SECRET-KEY-1…`), or the ML-KEM-768 + X25519 hybrid (`AGE-SECRET-KEY-PQ-1…`). */
export function generateIdentity(options: { postQuantum?: boolean } = {}): string {
  return options.postQuantum === true ? HybridIdentity.generate() : X25519Identity.generate();
}

/** The recipient (public key) of an age identity. @throws UsageError when `identity` is not one. */
export function identityToRecipient(identity: string): string {
  const parsed = parseIdentity(identity);
  if (parsed instanceof HybridIdentity || parsed instanceof X25519Identity) return parsed.recipient;
  throw new UsageError('not an age identity');
}

/** An identity file as age-keygen writes it: creation time and public key as comments, then the identity. */
export function formatIdentityFile(identity: string, now = new Date()): string {
  return `# created: ${now.toISOString().replace(/\.\d+Z$/, 'Z')}\n# public key: ${identityToRecipient(identity)}\n${identity}\n`;
}
