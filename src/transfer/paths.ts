/**
 * Names a peer asks us to store or read (docs/SECURITY.md "Hostile names"). A name is a relative POSIX path of 1
 * to 64 segments; each segment is 1..255 UTF-8 bytes and none may be empty, ".", "..", contain "\", NUL, a control,
 * bidirectional-override or line-separator character, end in "." or " ", be a Windows device name, or be the
 * reserved partial folder; the comparisons with reserved and device names are on the NFKC-normalised, case-folded
 * name (so `.SFT-PARTIAL` and `.ſft-partial` are the reserved name too). The path joined to the root must fit
 * PATH_MAX (4,096 bytes with its terminating NUL).
 */
import { SftError } from '../errors.js';
import { hasUnsafeCharacters, printable } from '../util/text.js';

export const PARTIAL_DIR = '.sft-partial';
/** Linux PATH_MAX counts the terminating NUL. */
export const PATH_MAX = 4096;
const MAX_SEGMENT_BYTES = 255;
const MAX_DEPTH = 64;
const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/;

function refuse(path: string, why: string): SftError {
  return new SftError('REFUSED', `refused file name "${printable(path, 80)}": ${why}`);
}

/** The form names are compared in: NFKC, then case-folded (upper then lower, as full case folding does for ſ, K, …). */
export function folded(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase();
}

/**
 * Checks a peer-supplied relative path and returns its segments. With `root`, also that root + path fits PATH_MAX.
 * @throws SftError REFUSED naming the problem.
 */
export function safeSegments(path: string, root?: string): string[] {
  if (path.length === 0) throw refuse(path, 'empty');
  if (path.startsWith('/')) throw refuse(path, 'absolute path');
  if (path.includes('\\')) throw refuse(path, 'backslash');
  if (hasUnsafeCharacters(path)) throw refuse(path, 'control, bidirectional or line-separator character');
  if (root !== undefined && Buffer.byteLength(root) + 1 + Buffer.byteLength(path) >= PATH_MAX) throw refuse(path, 'too long for the receiving directory');
  const segments = path.split('/');
  if (segments.length > MAX_DEPTH) throw refuse(path, 'too deep');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') throw refuse(path, 'empty, "." or ".." segment');
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw refuse(path, 'a name over 255 bytes');
    const name = folded(segment);
    if (DEVICE.test(name)) throw refuse(path, 'a Windows device name');
    if (segment.endsWith('.') || segment.endsWith(' ')) throw refuse(path, 'a name ending in "." or " "');
    if (name === PARTIAL_DIR) throw refuse(path, 'reserved name');
  }
  return segments;
}

/** A path made of safe segments, or "" for the root itself. */
export function safeDirectory(path: string, root?: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' || trimmed === '.' ? [] : safeSegments(trimmed, root);
}

const COMPOUND_EXTENSION = /\.tar\.(gz|bz2|xz|zst|lz|lz4|lzma|Z)$/i;

/**
 * The n-th alternative of a taken name, as browsers name downloads: `name (n).ext` (`arch.tar.gz` gives
 * `arch (n).tar.gz`, `a.b.txt` gives `a.b (n).txt`, `.hidden` gives `.hidden (n)`), the stem shortened at a
 * character boundary so the name stays within 255 bytes.
 */
export function alternativeName(name: string, n: number): string {
  const compound = COMPOUND_EXTENSION.exec(name);
  const dot = compound !== null ? compound.index : name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  const suffix = ` (${n})${ext}`;
  let shortStem = stem;
  while (Buffer.byteLength(shortStem) + Buffer.byteLength(suffix) > MAX_SEGMENT_BYTES && shortStem.length > 0) shortStem = [...shortStem].slice(0, -1).join('');
  return shortStem.length > 0 ? `${shortStem}${suffix}` : `${n}${ext}`.slice(-MAX_SEGMENT_BYTES);
}
