import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

async function cli(...argv: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, (l) => out.push(l), (l) => err.push(l));
  return { status, out, err };
}

describe('tilebit dtype', () => {
  it('lists every code of f4e2m1 with the OCP MXFP4 values', async () => {
    const { status, out } = await cli('dtype', 'f4e2m1');
    expect(status).toBe(0);
    const values = ['0', '0.5', '1', '1.5', '2', '3', '4', '6'];
    expect(out).toEqual([...values.map((v, c) => `${c} ${v}`), ...values.map((v, c) => `${c + 8} ${v === '0' ? '-0' : `-${v}`}`)]);
  });
  it('spells infinities and NaN', async () => {
    const { out } = await cli('dtype', 'f8e5m2');
    expect(out.slice(123, 128)).toEqual(['123 57344', '124 inf', '125 nan', '126 nan', '127 nan']);
    expect(out[252]).toBe('252 -inf');
  });
  it('encodes values, one code per line', async () => {
    const { out } = await cli('dtype', 'f8e4m3', '--encode', '448', '1e9', 'nan', '-0', '-inf', '0.3');
    // 0.3 lies between 0.28125 (code 0x29) and 0.3125 (0x2a); 0.3 is nearer 0.3125
    expect(out).toEqual(['126', '126', '127', '128', '254', '42']);
    expect((await cli('dtype', 'u3', '--encode', '2.5', '3.5', '-1', '9')).out).toEqual(['2', '4', '0', '7']);
  });
  it('describes wide types instead of listing them', async () => {
    const { out } = await cli('dtype', 'bf16');
    expect(out).toContain('max 3.3895313892515355e+38');
    expect(out).toContain('smallest subnormal 9.183549615799121e-41');
  });
  it('names the valid forms for an unknown type, with status 1', async () => {
    const { status, err } = await cli('dtype', 'f9');
    expect(status).toBe(1);
    expect(err.join('\n')).toMatch(/'f9' is not a data type; the types are i1\.\.i8/);
    expect((await cli('dtype', 'u4', '--encode', 'x')).status).toBe(2);
    expect((await cli('frobnicate')).status).toBe(2);
  });
  it('runs as `npx tilebit`', () => {
    const out = execFileSync('node', ['bin/tilebit.js', 'dtype', 'i2'], { encoding: 'utf8' });
    expect(out).toBe('0 0\n1 1\n2 -2\n3 -1\n');
  });
});
