import { describe, expect, it } from 'vitest';
import {
  calculateGenerator, cpaceShare, deriveIsk, generatorString, lvCat, oCat, prependLen, scalarFromBytes, scalarMultVfy,
  sidOutputIr, transcriptIr, transcriptOc,
} from '../../src/crypto/cpace.js';
import { hex, readVector } from '../helpers.js';

interface Section { data: Record<string, string> }
const sections = readVector<Section[]>('cpace/draft-21_all_embedded_testvectors.json');
const generatorVector = sections[5]?.data as Record<string, string>;
const protocolVector = readVector<Record<string, Record<string, string>>>('cpace/testvectors.json').G_25519 as Record<string, string>;
const lowOrder = readVector<{ s: string; points: { u: string; q: string; abort: boolean }[] }>('cpace/x25519_scalar_mult_vfy_draft21.json');
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

describe('CPACE-X25519-SHA512 (draft-21 test vectors)', () => {
  it('generator string and generator g', () => {
    expect(generatorVector.DSI).toBe(Buffer.from('CPace255').toString('hex').toUpperCase());
    const prs = hex(generatorVector.PRS as string);
    const ci = hex(generatorVector.CI as string);
    const sid = hex(generatorVector.sid as string);
    expect(generatorString(prs, ci, sid).toString('hex').toUpperCase()).toBe(generatorVector['generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)']);
    expect(calculateGenerator(prs, ci, sid).toString('hex').toUpperCase()).toBe(generatorVector['generator g']);
  });

  it('Ya, Yb, K, ISK_IR, ISK_SY and sid_output_ir', () => {
    const g = calculateGenerator(h('PRS'), h('CI'), h('sid'));
    expect(g.equals(h('g'))).toBe(true);
    const ya = scalarFromBytes(h('ya'));
    const yb = scalarFromBytes(h('yb'));
    const Ya = scalarMultVfy(ya, g);
    const Yb = scalarMultVfy(yb, g);
    expect(Ya.equals(h('Ya'))).toBe(true);
    expect(Yb.equals(h('Yb'))).toBe(true);
    expect(cpaceShare(h('PRS'), h('CI'), h('sid'), ya).Y.equals(h('Ya'))).toBe(true);
    const Ka = scalarMultVfy(ya, Yb);
    const Kb = scalarMultVfy(yb, Ya);
    expect(Ka.equals(h('K'))).toBe(true);
    expect(Kb.equals(h('K'))).toBe(true);
    const ir = transcriptIr(Ya, h('ADa'), Yb, h('ADb'));
    expect(deriveIsk(h('sid'), Ka, ir).equals(h('ISK_IR'))).toBe(true);
    expect(deriveIsk(h('sid'), Ka, transcriptOc(Ya, h('ADa'), Yb, h('ADb'))).equals(h('ISK_SY'))).toBe(true);
    expect(sidOutputIr(ir).equals(h('sid_output_ir'))).toBe(true);
  });

  it('scalar_mult_vfy: low-order and non-canonical u-coordinates give the draft results; u0-u5 and u7 abort', () => {
    const s = scalarFromBytes(hex(lowOrder.s));
    expect(lowOrder.points.filter((p) => p.abort)).toHaveLength(7);
    for (const point of lowOrder.points) {
      if (point.abort) {
        expect(point.q).toBe('0'.repeat(64));
        expect(() => scalarMultVfy(s, hex(point.u))).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
      } else {
        expect(scalarMultVfy(s, hex(point.u)).toString('hex')).toBe(point.q);
      }
    }
    expect(() => scalarMultVfy(s, Buffer.alloc(31, 9))).toThrow(expect.objectContaining({ code: 'AUTH_FAILED' }));
  });

  it('two parties with the same PRS agree on K; a different PRS does not', () => {
    const ci = Buffer.from('ci');
    const sid = Buffer.from('sid');
    const a = cpaceShare(Buffer.from('pw'), ci, sid);
    const b = cpaceShare(Buffer.from('pw'), ci, sid);
    const c = cpaceShare(Buffer.from('other'), ci, sid);
    expect(scalarMultVfy(a.y, b.Y).equals(scalarMultVfy(b.y, a.Y))).toBe(true);
    expect(scalarMultVfy(a.y, c.Y).equals(scalarMultVfy(c.y, a.Y))).toBe(false);
  });
});
