/**
 * The original design's API, kept: Fernet keys from PBKDF2 and tokens, as Python computes them, and password file
 * encryption. The file methods are files.ts's encryptFile and decryptFile, which also take recipients and identities.
 */
import { Fernet, toBase64Url } from '../crypto/fernet.js';
import { DEFAULT_ITERATIONS, pbkdf2Sha256 } from '../crypto/pbkdf2.js';
import { decryptFile, detectFormat, encryptFile, type DecryptFileOptions, type EncryptFileOptions, type FileFormat, type FileResult } from './files.js';

export class SecureFileTransfer {
  /**
   * The Fernet key for `password` and `salt`, as Python computes it:
   * `base64.urlsafe_b64encode(PBKDF2HMAC(SHA256(), 32, salt, iterations).derive(password))`.
   */
  static async deriveKey(password: string | Uint8Array, salt: Uint8Array, iterations: number = DEFAULT_ITERATIONS): Promise<string> {
    return toBase64Url(await pbkdf2Sha256(password, salt, iterations, 32));
  }

  /** Encrypts `data` to a Fernet token string. */
  static encrypt(data: string | Uint8Array, key: string): string {
    return new Fernet(key).encrypt(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /**
   * Decrypts a Fernet token. @throws IntegrityError (TAMPERED, MALFORMED, EXPIRED) when the token does not verify,
   * is older than `ttl` seconds, or is stamped more than 60 s in the future.
   */
  static decrypt(token: string, key: string, ttl?: number): Buffer {
    return new Fernet(key).decrypt(token, ttl === undefined ? {} : { ttl });
  }

  /** Encrypts the file at `input` to `output` (written atomically). See files.ts encrypt(). */
  static encryptFile(input: string, output: string, options: EncryptFileOptions): Promise<FileResult> {
    return encryptFile(input, output, options);
  }

  /** Decrypts `input` (age, armored age or fernet, detected) to `output`. See files.ts decrypt(). */
  static decryptFile(input: string, output: string, options: DecryptFileOptions): Promise<FileResult> {
    return decryptFile(input, output, options);
  }

  /** Reads the first bytes of `path` and names its format. @throws IntegrityError MALFORMED for anything else. */
  static detectFormat(path: string): Promise<FileFormat> {
    return detectFormat(path);
  }
}
