/**
 * Relay codes (docs/PROTOCOL.md §10.1), such as `7-acorn-jolly-pasta`: a nameplate (the room number the relay
 * sees) and words from the EFF short word list 1 (words.ts), joined by hyphens.
 *
 * How much secret: each word is drawn uniformly (crypto.randomInt) from 1,295 words, log2(1295) = 10.34 bits;
 * the default three words give 3 × 10.34 = 31.0 bits (1295³ ≈ 2.2 × 10⁹ codes per nameplate). The nameplate is
 * public and adds nothing. That is enough because the two peers feed the whole code to a PAKE: a passive
 * observer (the relay included) learns nothing it can test offline, and an active attacker must join the room
 * and run the PAKE with one guess. A wrong guess fails the PAKE, which ends the room for both sides, and a room
 * takes exactly two peers and is used once: one guess per code, and the real users see the failure. Each attempt
 * succeeds with probability 1295⁻³ ≈ 4.6 × 10⁻¹⁰; a million attempts (a million visibly failed transfers) still
 * succeed with probability below 10⁻³. magic-wormhole's default codes have 16 bits on the same argument.
 *
 * Why this list: its words are short (3 to 5 letters), common, and were chosen by the EFF to be easy to type and
 * tell apart; 10.3 bits per word means three words where the PGP word list (8 bits per word, the list wormhole
 * uses) would need four, of longer words. Its licence (CC BY 3.0 US) is clear.
 */
import { randomInt } from 'node:crypto';
import { UsageError } from '../errors.js';
import { WORDS } from './words.js';

/** Words in a code made by makeCode. */
export const DEFAULT_WORDS = 3;
/** Fewest and most words a typed code may have (a chosen `--code` may be longer than the default). */
export const MIN_WORDS = 3;
export const MAX_WORDS = 8;
/** Highest nameplate: nine digits, below 2^32 (the wire field is a u32). */
export const MAX_NAMEPLATE = 999_999_999;
/** Bits of secret in a code of `words` words. */
export function secretBits(words = DEFAULT_WORDS): number {
  return words * Math.log2(WORDS.length);
}

const WORD_INDEX = new Set(WORDS);
/** Separators a person may type between the parts: whitespace, hyphens, and the dashes autocorrect makes. */
const SEPARATORS = /[\s\-\u2010-\u2015\u2212]+/u;

/**
 * A new code for `nameplate`: `words` words drawn uniformly with crypto.randomInt.
 * @throws UsageError when the nameplate or word count is out of range.
 */
export function makeCode(nameplate: number, words = DEFAULT_WORDS): string {
  checkNameplate(nameplate);
  if (!Number.isInteger(words) || words < MIN_WORDS || words > MAX_WORDS) {
    throw new UsageError(`a code has ${MIN_WORDS} to ${MAX_WORDS} words, not ${words}`);
  }
  const chosen = Array.from({ length: words }, () => WORDS[randomInt(WORDS.length)] as string);
  return [String(nameplate), ...chosen].join('-');
}

/**
 * The canonical form of a code a person typed: `7-acorn-jolly-pasta` from ` 7 Acorn  jolly--PASTA `. Both peers
 * feed this exact string to their PAKE. Error messages name the position of a bad word, never the word itself.
 * @throws UsageError naming what is wrong (empty, no room number, unknown word, too few or too many words).
 */
export function normaliseCode(input: string): string {
  const parts = input.trim().toLowerCase().split(SEPARATORS).filter((part) => part !== '');
  const [room, ...words] = parts;
  if (room === undefined) throw new UsageError('the code is empty: it looks like 7-acorn-jolly-pasta');
  if (!/^[0-9]+$/.test(room)) throw new UsageError('the code must start with its room number, as in 7-acorn-jolly-pasta');
  const nameplate = Number(room);
  checkNameplate(nameplate);
  if (words.length < MIN_WORDS) {
    throw new UsageError(`the code has ${words.length} word(s) after the room number; it needs at least ${MIN_WORDS}`);
  }
  if (words.length > MAX_WORDS) throw new UsageError(`the code has ${words.length} words; at most ${MAX_WORDS} are allowed`);
  words.forEach((word, i) => {
    if (!WORD_INDEX.has(word)) throw new UsageError(`word ${i + 1} of the code is not in the word list: check its spelling`);
  });
  return [String(nameplate), ...words].join('-');
}

/**
 * Normalises a code and splits it: the nameplate goes to the relay, the whole code (`secret` is the words part)
 * goes to the PAKE.
 * @throws UsageError as normaliseCode.
 */
export function splitCode(input: string): { code: string; nameplate: number; secret: string } {
  const code = normaliseCode(input);
  const dash = code.indexOf('-');
  return { code, nameplate: Number(code.slice(0, dash)), secret: code.slice(dash + 1) };
}

function checkNameplate(nameplate: number): void {
  if (!Number.isSafeInteger(nameplate) || nameplate < 1 || nameplate > MAX_NAMEPLATE) {
    throw new UsageError(`the room number must be 1 to ${MAX_NAMEPLATE}`);
  }
}
