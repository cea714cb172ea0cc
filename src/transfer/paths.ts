/**
 * Names a peer asks us to store (docs/SECURITY.md "Hostile names"). A name is a relative POSIX path of 1 to 64
 * segments; each segment is 1..255 UTF-8 bytes and none may be empty, ".", "..", contain "\", NUL or any control
 * character, end in "." or " ", or be a Windows device name. The whole path is at most 4096 bytes.
 */
import { SftError } from '../errors.js';

export const PARTIAL_DIR = '.sft-partial';
const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;
const MAX_DEPTH = 64;
const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function refuse(path: string, why: string): SftError {
  return new SftError('REFUSED', `refused file name ${JSON.stringify(path.slice(0, 80))}: ${why}`);
}

/** Checks a peer-supplied relative path and returns its segments. @throws SftError REFUSED naming the problem. */
export function safeSegments(path: string): string[] {
  if (path.length === 0) throw refuse(path, 'empty');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw refuse(path, 'too long');
  if (path.startsWith('/')) throw refuse(path, 'absolute path');
  if (path.includes('\\')) throw refuse(path, 'backslash');
  if (CONTROL.test(path)) throw refuse(path, 'NUL or control character');
  const segments = path.split('/');
  if (segments.length > MAX_DEPTH) throw refuse(path, 'too deep');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') throw refuse(path, 'empty, "." or ".." segment');
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw refuse(path, 'a name over 255 bytes');
    if (DEVICE.test(segment)) throw refuse(path, 'a Windows device name');
    if (segment.endsWith('.') || segment.endsWith(' ')) throw refuse(path, 'a name ending in "." or " "');
  }
  if (segments[0] === PARTIAL_DIR) throw refuse(path, 'reserved name');
  return segments;
}
