import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_WORDS, MAX_NAMEPLATE, MAX_WORDS, makeCode, normaliseCode, secretBits, splitCode } from '../../src/relay/code.js';
import { WORDS } from '../../src/relay/words.js';

describe('word list (EFF short word list 1, less "yo-yo")', () => {
  it('has 1,295 distinct words of 3 to 5 lowercase letters, in order', () => {
    expect(WORDS).toHaveLength(1295);
    expect(new Set(WORDS).size).toBe(1295);
    expect(WORDS.every((w) => /^[a-z]{3,5}$/.test(w))).toBe(true);
    expect([...WORDS].sort()).toEqual(WORDS);
    expect([WORDS[0], WORDS[1], WORDS[1292], WORDS[1294]]).toEqual(['acid', 'acorn', 'zippy', 'zoom']);
    expect(WORDS).toContain('yoyo');
    expect(WORDS).not.toContain('yo-yo');
  });

  it('gives 10.34 bits per word: 31.0 bits for the default three words', () => {
    expect(DEFAULT_WORDS).toBe(3);
    expect(secretBits()).toBeCloseTo(31.016, 3);
    expect(secretBits(4)).toBeCloseTo(41.355, 3);
  });
});

describe('makeCode', () => {
  it('makes "<nameplate>-w-w-w" from list words, which normalises to itself', () => {
    const code = makeCode(7);
    expect(code).toMatch(/^7(-[a-z]{3,5}){3}$/);
    expect(code.split('-').slice(1).every((w) => WORDS.includes(w))).toBe(true);
    expect(normaliseCode(code)).toBe(code);
    expect(makeCode(MAX_NAMEPLATE, MAX_WORDS).split('-')).toHaveLength(1 + MAX_WORDS);
  });

  it('draws words at random: 300 codes are distinct and use many words in every position', () => {
    const codes = Array.from({ length: 300 }, () => makeCode(1));
    expect(new Set(codes).size).toBe(300);
    for (const position of [1, 2, 3]) expect(new Set(codes.map((c) => c.split('-')[position])).size).toBeGreaterThan(200);
  });

  it('rejects a nameplate or word count out of range', () => {
    for (const n of [0, -1, 1.5, MAX_NAMEPLATE + 1, Number.NaN]) expect(() => makeCode(n)).toThrow(UsageError);
    expect(() => makeCode(1, 2)).toThrow(/3 to 8 words/);
    expect(() => makeCode(1, 9)).toThrow(/3 to 8 words/);
  });
});

describe('normaliseCode / splitCode', () => {
  const ok: [string, string][] = [
    ['7-acorn-jolly-pasta', '7-acorn-jolly-pasta'],
    [' 7 Acorn  jolly--PASTA ', '7-acorn-jolly-pasta'],
    ['7\tacorn\njolly pasta', '7-acorn-jolly-pasta'],
    ['007-acorn-jolly-pasta', '7-acorn-jolly-pasta'],
    ['7\u2013acorn\u2014jolly\u2212pasta', '7-acorn-jolly-pasta'],
    ['-7-acorn-jolly-pasta-', '7-acorn-jolly-pasta'],
    ['123456789-yoyo-zoom-acid-acre', '123456789-yoyo-zoom-acid-acre'],
  ];
  it.each(ok)('%j -> %s', (input, expected) => {
    expect(normaliseCode(input)).toBe(expected);
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['   - ', /empty/],
    ['acorn-jolly-pasta', /start with its room number/],
    ['7a-acorn-jolly-pasta', /start with its room number/],
    ['0-acorn-jolly-pasta', /room number must be 1 to 999999999/],
    ['1000000000-acorn-jolly-pasta', /room number must be 1 to/],
    ['7', /0 word\(s\).*at least 3/],
    ['7-acorn-jolly', /2 word\(s\).*at least 3/],
    ['7-acid-acid-acid-acid-acid-acid-acid-acid-acid', /9 words; at most 8/],
    ['7-acorn-jolly-pastaa', /word 3 of the code is not in the word list/],
    ['7-acorn-yo-yo', /word 2 of the code/],
    ['7-acörn-jolly-pasta', /word 1 of the code/],
  ];
  it.each(bad)('%j is a UsageError: %s', (input, message) => {
    let caught: unknown;
    try {
      normaliseCode(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as Error).message).toMatch(message);
  });

  it('never repeats a word of the code in its message', () => {
    expect(() => normaliseCode('7-acorn-jolly-pastaa')).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/acorn|jolly|pasta/) }));
  });

  it('splits into the nameplate (for the relay) and the secret words; the whole code goes to the PAKE', () => {
    expect(splitCode(' 42 Acorn jolly PASTA')).toEqual({ code: '42-acorn-jolly-pasta', nameplate: 42, secret: 'acorn-jolly-pasta' });
  });

  it('normalises any retyping of a made code (case, separators) back to it (property)', () => {
    const separator = fc.constantFrom('-', ' ', '--', ' - ', '\t', '\u2013');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_NAMEPLATE }), fc.array(separator, { minLength: 4, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (nameplate, seps, upper) => {
        const code = makeCode(nameplate);
        const parts = code.split('-').map((p, i) => (upper[i] === true ? p.toUpperCase() : p));
        const typed = ` ${parts.map((p, i) => p + (i < parts.length - 1 ? seps[i] : '')).join('')} `;
        expect(normaliseCode(typed)).toBe(code);
      }),
      { numRuns: 300 },
    );
  });
});
