export { SecureFileTransfer, FILE_FORMATS } from './rest/secure-file-transfer.js';
export type { FileFormat, EncryptFileOptions, DecryptFileOptions, FileResult, ProgressOptions } from './rest/secure-file-transfer.js';
export { SftError, UsageError, AuthError, IntegrityError, NetworkError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { SecureServer } from './transfer/server.js';
export type { ServerOptions, ReceivedFile, ServerEvents } from './transfer/server.js';
export { SecureClient, DEFAULT_SUITES } from './transfer/client.js';
export type { ClientOptions, SourceFile, Progress, Delivery, SendResult } from './transfer/client.js';
export type { Suite } from './protocol/messages.js';
