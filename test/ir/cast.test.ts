// The VM's cast functions resolved once per pair of types (castFn, a table over the codes of storage
// types of 8 bits or fewer) against the element-by-element cast, castElement, on every code.

import { describe, expect, it } from 'vitest';
import { castElement, castFn } from '../../ir/cast.ts';
import { narrowTypes } from '../../ir/dtype.ts';

describe('castFn', () => {
  it('casts every code of every type of 8 bits or fewer as castElement does, to every compute type and bool', () => {
    let checked = 0;
    for (const from of narrowTypes()) {
      for (const to of ['f32', 'f16', 'bf16', 'i32', 'u32', 'bool', 'u4', 'f8e4m3']) {
        const f = castFn(from.name, to);
        for (let code = 0; code < 2 ** from.bits; code++) {
          expect(Object.is(f(code), castElement(from.name, to, code)), `${from.name} ${code} -> ${to}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });

  it('casts compute values as castElement does: specials, rounding ties, saturation', () => {
    const values = [0, -0, 1, -1, 0.5, 1.5, 2.5, -2.5, 65504, 65520, 1e10, -1e10, 2 ** -24, 2 ** -25, 3 * 2 ** -26, Infinity, -Infinity, NaN, 2 ** 31, -(2 ** 31) - 1, 4294967295];
    for (const from of ['f32', 'i32', 'u32']) {
      for (const to of ['f32', 'f16', 'bf16', 'i32', 'u32', 'bool', 'u3', 'i8', 'f4e2m1', 'f8e5m2']) {
        const f = castFn(from, to);
        for (const v of values) {
          const held = castElement('f32', from, v); // a value of `from`
          expect(Object.is(f(held), castElement(from, to, held)), `${from} ${held} -> ${to}`).toBe(true);
        }
      }
    }
  });
});
