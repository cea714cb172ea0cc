import { describe, expect, it } from 'vitest';
import {
  bytesToScalar, calculateGenerator, cpaceShare, deriveIsk, generatorString, lvCat, oCat, prependLen, scalarMult,
  scalarMultVfy, sidOutputIr, transcriptIr, transcriptOc,
} from '../../src/crypto/cpace.js';
import { hex, readVector } from '../helpers.js';

interface Section { data: Record<string, unknown> }
const sections = readVector<Section[]>('cpace/cpace_ristretto255_sha512_draft21.json');
const generatorVector = sections[0]?.data as Record<string, string>;
const protocolVector = sections[1]?.data as Record<string, string>;
const invalidVector = sections[2]?.data as { Valid: Record<string, string>; 'Invalid Y1': string; 'Invalid Y2': string };
const h = (key: string) => hex(protocolVector[key] as string);

describe('CPace string utilities (draft-21 appendix A)', () => {
  it('prepend_len, lv_cat and o_cat match the draft', () => {
    expect(prependLen(Buffer.alloc(0)).toString('hex')).toBe('00');
    expect(prependLen(Buffer.from('1234')).toString('hex')).toBe('0431323334');
    expect(prependLen(Buffer.alloc(128)).subarray(0, 2).toString('hex')).toBe('8001');
    expect(lvCat(Buffer.from('1234'), Buffer.from('5'), Buffer.alloc(0), Buffer.from('678')).toString('hex')).toBe('043132333401350003363738');
    expect(oCat(Buffer.from('ABCD'), Buffer.from('BCD')).toString('hex')).toBe('6f6342434441424344');
    expect(oCat(Buffer.from('BCD'), Buffer.from('ABCDE')).toString('hex')).toBe('6f634243444142434445');
  });
});

describe('CPACE-RISTR255-SHA512 (draft-21 test vectors)', () => {
  it('generator string and generator g', () => {
    const prs = hex(generatorVector.PRS as string);
    const ci = hex(generatorVector.CI as string);
    const sid = hex(generatorVector.sid as string);
    expect(generatorString(prs, ci, sid).toString('hex').toUpperCase()).toBe(generatorVector['generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)']);
    expect(Buffer.from(calculateGenerator(prs, ci, sid)).toString('hex').toUpperCase()).toBe(generatorVector['encoded generator g']);
  });

  it('Ya, Yb, K, ISK_IR, ISK_SY and sid_output_ir', () => {
    const g = calculateGenerator(h('PRS'), h('CI'), h('sid'));
    expect(Buffer.from(g).equals(h('g'))).toBe(true);
    const ya = bytesToScalar(h('ya'));
    const yb = bytesToScalar(h('yb'));
    const Ya = scalarMult(ya, g);
    const Yb = scalarMult(yb, g);
    expect(Buffer.from(Ya).equals(h('Ya'))).toBe(true);
    expect(Buffer.from(Yb).equals(h('Yb'))).toBe(true);
    const Ka = scalarMultVfy(ya, Yb);
    const Kb = scalarMultVfy(yb, Ya);
    expect(Buffer.from(Ka).equals(h('K'))).toBe(true);
    expect(Buffer.from(Kb).equals(h('K'))).toBe(true);
    const ir = transcriptIr(Ya, h('ADa'), Yb, h('ADb'));
    expect(deriveIsk(h('sid'), Ka, ir).equals(h('ISK_IR'))).toBe(true);
    expect(deriveIsk(h('sid'), Ka, transcriptOc(Ya, h('ADa'), Yb, h('ADb'))).equals(h('ISK_SY'))).toBe(true);
    expect(sidOutputIr(ir).equals(h('sid_output_ir'))).toBe(true);
  });

  it('scalar_mult_vfy: the valid case matches, both invalid points abort', () => {
    const s = bytesToScalar(hex(invalidVector.Valid.s as string));
    expect(Buffer.from(scalarMultVfy(s, hex(invalidVector.Valid.X as string))).toString('hex').toUpperCase()).toBe(invalidVector.Valid['G.scalar_mult_vfy(s,X)']);
    expect(() => scalarMultVfy(s, hex(invalidVector['Invalid Y1']))).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
    expect(() => scalarMultVfy(s, hex(invalidVector['Invalid Y2']))).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
  });

  it('two parties with the same PRS agree on K; a different PRS does not', () => {
    const ci = Buffer.from('ci');
    const sid = Buffer.from('sid');
    const a = cpaceShare(Buffer.from('pw'), ci, sid);
    const b = cpaceShare(Buffer.from('pw'), ci, sid);
    const c = cpaceShare(Buffer.from('other'), ci, sid);
    expect(Buffer.from(scalarMultVfy(a.y, b.Y)).equals(Buffer.from(scalarMultVfy(b.y, a.Y)))).toBe(true);
    expect(Buffer.from(scalarMultVfy(a.y, c.Y)).equals(Buffer.from(scalarMultVfy(c.y, a.Y)))).toBe(false);
  });
});
