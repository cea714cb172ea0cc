export { SecureFileTransfer, FILE_FORMATS } from './transfer/secure-file-transfer.js';
export type { FileFormat, EncryptFileOptions, DecryptFileOptions, FileResult, ProgressOptions } from './transfer/secure-file-transfer.js';
export { SftError, UsageError, AuthError, IntegrityError, NetworkError } from './errors.js';
export type { ErrorCode } from './errors.js';
