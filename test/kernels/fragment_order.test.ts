// Fragment order: the layout of weight codes that puts each lane's MMA B-fragment codes side by side
// (at 2, 4 and 8 bits, in blocks of atom columns that the warps of a tile read whole).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { fragmentOrderTensor, fragmentShape, fromFragmentOrder, pairsPerWord, toFragmentOrder, unitPositions, unitsToTile } from '../../src/kernels/fragment_order.ts';
import { runOn } from '../../src/targets.ts';
import { allocTensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';

describe('fragment order', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('%i-bit codes: each lane holds its B fragments (mma.m16n8k16), every position once; at 2, 4 and 8 bits in blocks of atom columns, a word of every lane each', (bits) => {
    const at = unitPositions(bits);
    const seen = new Set<number>();
    // Widths with pairs per word P > 1 (but 1 bit, whose lanes hold one word): 16 / P blocks, each the
    // atom columns of one word (P / 2 of them) of every lane, lane after lane; others: lane after lane.
    const P = pairsPerWord(bits);
    const blocks = P > 1 ? 16 / P : 1;
    for (let i = 0; i < 1024; i++) {
      const [k, n] = [at[2 * i]!, at[2 * i + 1]!];
      seen.add(k * 64 + n);
      const block = Math.floor(i / (1024 / blocks));
      // Lane 4 g + q: column g of each atom, rows 2 q + k0 (+ 8).
      const lane = Math.floor((i % (1024 / blocks)) / (32 / blocks));
      expect(n % 8).toBe(lane >> 2);
      expect((k % 8) >> 1).toBe(lane & 3);
      if (blocks > 1) expect(Math.floor(Math.floor(n / 8) / (P / 2))).toBe(block);
    }
    expect(seen.size).toBe(1024);
  });
  it.each([1, 2, 4, 8])('%i-bit codes: the two codes of each f16 pair sit 16 bits apart in one 32-bit word', (bits) => {
    const at = unitPositions(bits);
    const perWord = 32 / bits;
    expect(pairsPerWord(bits)).toBe(16 / bits);
    for (let i = 0; i < 1024; i++) {
      const [k, n] = [at[2 * i]!, at[2 * i + 1]!];
      if (k % 2 === 1) continue;
      const partner = i + 16 / bits;
      expect(Math.floor(partner / perWord)).toBe(Math.floor(i / perWord));
      expect([at[2 * partner], at[2 * partner + 1]]).toEqual([k + 1, n]);
    }
  });
  it('round-trips any codes, with the columns past N padded with code 0', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 150 }), (bits, kb, N) => {
      const K = 16 * kb;
      const codes = Array.from({ length: K * N }, (_, i) => (i * 2654435761) % 2 ** bits);
      const ordered = toFragmentOrder(codes, K, N, bits);
      expect(ordered.length).toBe(fragmentShape(K, N).reduce((a, b) => a * b, 1));
      expect(Array.from(fromFragmentOrder(ordered, K, N, bits))).toEqual(codes);
      const at = unitPositions(bits);
      ordered.forEach((c, i) => {
        const n = Math.floor(i / 1024) % Math.ceil(N / 64) * 64 + at[2 * (i % 1024) + 1]!;
        if (n >= N) expect(c).toBe(0);
      });
    }), { numRuns: 40, seed: 3 });
  });
  it.each([3, 4])('%i-bit codes: unitsToTile turns the units back into W\'s tile, and into its transpose (on the VM)', async (bits) => {
    const [K, N] = [32, 128];
    const codes = Array.from({ length: K * N }, (_, i) => (i * 2654435761) % 2 ** bits);
    const units = `load f[0 :+ 2, 0 :+ 2, 0 :+ 32, 0 :+ 32]`;
    const k = compile(`kernel back(f: u${bits}[2, 2, 32, 32], w: u${bits}[${K}, ${N}], t: u${bits}[${N}, ${K}]) grid(1) threads(32) {
      store w[0 :+ ${K}, 0 :+ ${N}] = ${unitsToTile(units, bits, '2', '2')};
      store t[0 :+ ${N}, 0 :+ ${K}] = ${unitsToTile(units, bits, '2', '2', true)};
    }`);
    const tensors = new Map([['f', tensorFrom(`u${bits}`, fragmentShape(K, N), toFragmentOrder(codes, K, N, bits))], ['w', allocTensor(`u${bits}`, [K, N])], ['t', allocTensor(`u${bits}`, [N, K])]]);
    await runOn('vm', k, tensors, new Map());
    expect(Array.from(tensorElements(tensors.get('w')!))).toEqual(codes);
    expect(Array.from(tensorElements(tensors.get('t')!))).toEqual(Array.from({ length: K * N }, (_, i) => codes[(i % K) * N + Math.floor(i / K)]));
  });
  it('reorders a tensor of codes and says what it cannot', () => {
    const w = tensorFrom('u3', [32, 5], Array.from({ length: 160 }, (_, i) => i % 8));
    const f = fragmentOrderTensor(w);
    expect(f.shape).toEqual([2, 1, 32, 32]);
    expect(Array.from(fromFragmentOrder(tensorElements(f), 32, 5, 3))).toEqual(Array.from(tensorElements(w)));
    expect(() => fragmentShape(24, 8)).toThrow('fragment order needs K a positive multiple of 16; got 24');
    expect(() => fragmentOrderTensor(tensorFrom('u4', [16], new Array(16).fill(0)))).toThrow('fragment order takes codes W[K, N]');
  });
  it('is read by the tiles of every target, decode-sized M on GPUs by the MMA tiles (8 rows, weights as the A operand; 16 with them as B); needs whole units per tile', () => {
    const a = dequantGemm({ weight: 'u4', groupSize: 32, m: 1, target: 'gpu', weightOrder: 'fragments' }).source;
    expect(a).toMatch(/<BM = 8, BN = 64, BK = 32, STAGES = \d+>/);
    expect(a).toContain('part = dot(cast<f16>(reshape(permute(reshape(load sw[');
    expect(dequantGemm({ weight: 'u4', groupSize: 32, m: 1, target: 'gpu', weightOrder: 'fragments', weightOperand: 'b' }).source).toMatch(/<BM = 16, BN = 64, BK = 32, STAGES = \d+>/);
    expect(dequantGemm({ weight: 'u4', groupSize: 32, m: 1, weightOrder: 'fragments' }).source).toContain('permute(reshape(load w[');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 24, m: 16, target: 'gpu', weightOrder: 'fragments' })).toThrow('weights in fragment order need a group size that is a multiple of 16; got 24');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, blockN: 32, target: 'gpu', weightOrder: 'fragments' })).toThrow('weights in fragment order need K tiles of a multiple of 16 rows and N tiles of a multiple of 64 columns; got 32 and 32');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, target: 'gpu', weightOrder: 'columns' as 'rows' })).toThrow('the weight order is rows, fragments or panels; got columns');
  });
});
