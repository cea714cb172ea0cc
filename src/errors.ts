/**
 * Every error sft throws is an SftError with a stable `code`. The family (subclass) decides the CLI exit code:
 *
 * | class            | exit | codes                                                              |
 * |------------------|------|--------------------------------------------------------------------|
 * | UsageError       | 2    | USAGE                                                              |
 * | AuthError        | 3    | AUTH_FAILED                                                        |
 * | IntegrityError   | 4    | TAMPERED, TRUNCATED, MALFORMED, HASH_MISMATCH, UNSUPPORTED, EXPIRED|
 * | NetworkError     | 5    | NETWORK, TIMEOUT                                                   |
 * | InterruptedError | 130  | INTERRUPTED (an AbortSignal fired: Ctrl-C in the CLI)              |
 * | SftError (base)  | 1    | REFUSED (the server refused a name, size or count), IO, INTERNAL   |
 */
export type ErrorCode =
  | 'USAGE'
  | 'AUTH_FAILED'
  | 'TAMPERED'
  | 'TRUNCATED'
  | 'MALFORMED'
  | 'HASH_MISMATCH'
  | 'UNSUPPORTED'
  | 'EXPIRED'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'REFUSED'
  | 'IO'
  | 'INTERRUPTED'
  | 'INTERNAL';

export class SftError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number = 1;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad arguments or options given by the caller. */
export class UsageError extends SftError {
  override readonly exitCode = 2;
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Wrong password, or the peer could not prove it knows the password. */
export class AuthError extends SftError {
  override readonly exitCode = 3;
  constructor(message = 'wrong password or authentication failed') {
    super('AUTH_FAILED', message);
  }
}

/** Tampered, truncated or malformed input: authentication tags, hashes or structure do not check out. */
export class IntegrityError extends SftError {
  override readonly exitCode = 4;
  constructor(code: 'TAMPERED' | 'TRUNCATED' | 'MALFORMED' | 'HASH_MISMATCH' | 'UNSUPPORTED' | 'EXPIRED', message: string) {
    super(code, message);
  }
}

/** The connection failed, was cut, or timed out. */
export class NetworkError extends SftError {
  override readonly exitCode = 5;
  constructor(code: 'NETWORK' | 'TIMEOUT', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class InterruptedError extends SftError {
  override readonly exitCode = 130;
  constructor(message = 'interrupted') {
    super('INTERRUPTED', message);
  }
}

export function malformed(message: string): IntegrityError {
  return new IntegrityError('MALFORMED', message);
}
