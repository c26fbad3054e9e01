// Exact diagnostics for bad programs: position, and a sentence the user can act on.

import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../dsl/diagnostics.ts';
import { compileSource } from '../../dsl/elaborate.ts';

const H = 'kernel k(a: f16[M, K], b: f16[K, N], c: f32[M, N], s: f32) grid(cdiv(M, 16)) threads(128) {\n';

/** Every diagnostic's first line, as `tilebit` prints it. */
function diagnose(source: string): string[] {
  try {
    compileSource(source, { file: 'bad.tile' });
  } catch (e) {
    if (e instanceof DiagnosticError) return e.message.split('\n').filter((l) => l.startsWith('bad.tile:'));
    throw e;
  }
  return ['no error'];
}

const cases: [string, string, string[]][] = [
  ['unknown name', H + '  let x = y + 1;\n}', ["bad.tile:2:11: unknown name 'y'"]],
  ['shapes that do not broadcast', H + '  let x = load a[0 :+ 16, 0 :+ 32];\n  let y = zeros<f16>[16, 16];\n  let z = x + y;\n}',
    ['bad.tile:4:11: cannot broadcast f16[16, 32] with f16[16, 16] for `+`']],
  ['dot shapes', H + '  let x = dot(load a[0 :+ 16, 0 :+ 32], load b[0 :+ 64, 0 :+ 16]);\n}',
    ['bad.tile:2:11: `dot` needs a[M, K] and b[K, N]; got f16[16, 32] and f16[64, 16]']],
  ['dot of mixed types', H + '  let x = dot(load a[0 :+ 16, 0 :+ 32], zeros<f32>[32, 8]);\n}',
    ['bad.tile:2:11: `dot` needs a and b of one type; got f16[16, 32] and f32[32, 8]; cast one of them']],
  ['dot of a storage type', 'kernel k(w: u4[N], o: f32[N]) grid(1) threads(32) {\n  let x = dot(zeros<u4>[4, 4], zeros<u4>[4, 4]);\n}',
    ['bad.tile:2:11: `dot` takes f16, bf16, f32, i8 or u8 inputs; got u4 (cast it first)']],
  ['non-constant slice extent', H + '  store c[0 :+ M, 0 :+ 8] = zeros<f32>[16, 8];\n}',
    ['bad.tile:2:16: a slice extent must be a compile-time integer constant; got a runtime i32 scalar']],
  ['layout that does not cover its tile', H + '  let x = zeros<f32>[16, 8] @ local(2, 2);\n}',
    ['bad.tile:2:31: layout local(2, 2) covers [2, 2], but the tile is [16, 8]']],
  ['layout on more threads than the block', H + '  let x = zeros<f32>[16, 16] @ spatial(16, 16);\n}',
    ["bad.tile:2:32: layout spatial(16, 16) spreads over 256 threads, which does not divide the block's 128"]],
  ['bad view', H + '  let x = view<u3>(load a[0 :+ 4, 0 :+ 5]);\n}',
    ['bad.tile:2:11: view<u3> of f16[4, 5]: the last dimension holds 80 bits, which is not a multiple of 3']],
  ['store to a parameter that does not exist', H + '  store d[0, 0] = 1.0;\n}',
    ["bad.tile:2:9: store to 'd', which is not a parameter or a shared allocation"]],
  ['arithmetic on a storage type', 'kernel k(w: u4[N], o: f32[N]) grid(1) threads(32) {\n  let x = load w[0 :+ 8] + 1;\n}',
    ['bad.tile:2:11: `+` needs a compute type (i32, u32, f32, f16, bf16); u4 is storage only: cast it first']],
  ['assigning a let', H + '  let x = 1;\n  x = 2;\n}', ["bad.tile:3:3: 'x' was declared with let and cannot be assigned; declare it with var"]],
  ['store of the wrong shape', H + '  store c[0 :+ 16, 0 :+ 8] = zeros<f32>[16, 4];\n}',
    ["bad.tile:2:30: 'c'[...] needs a tile of shape [16, 8]; got f32[16, 4] (use reshape or unsqueeze to match)"]],
  ['accumulating into a type without atomics', H + '  store a[0 :+ 16, 0 :+ 8] += zeros<f16>[16, 8];\n}',
    ["bad.tile:2:9: store ... += needs a tensor of f32, i32, u32 (GPUs add atomically in 32-bit words); 'a' holds f16"]],
  ['accumulating into shared memory', H + '  let sh = shared<f32>[16];\n  store sh[0 :+ 16] += zeros<f32>[16];\n}',
    ["bad.tile:3:3: store ... += accumulates into global tensors only; 'sh' is shared memory (load, add and store it instead)"]],
  ['store of the wrong type', H + '  store c[0 :+ 16, 0 :+ 8] = zeros<f16>[16, 8];\n}', ["bad.tile:2:30: 'c'[...] holds f32; the value is f16[16, 8]: cast it"]],
  ['index of the wrong rank', H + '  let x = load a[0 :+ 16];\n}', ["bad.tile:2:11: 'a' has 2 dimensions; the index has 1 entry"]],
  ['fma of an integer tile', H + '  let x = fma(zeros<i32>[4], 2, 3);\n}',
    ["bad.tile:2:11: fma(a, b, c) takes f32, f16 or bf16 values of one type (scalars take the tiles' type); got i32[4], i32 scalar, i32 scalar"]],
  ['fma of two float types', H + '  let x = fma(load a[0 :+ 16, 0 :+ 16], zeros<f32>[16, 16], 1.0);\n}',
    ["bad.tile:2:11: fma(a, b, c) takes f32, f16 or bf16 values of one type (scalars take the tiles' type); got f16[16, 16], f32[16, 16], f32 scalar"]],
  ['fma of shapes that do not broadcast', H + '  let x = fma(zeros<f32>[16, 8], zeros<f32>[16, 1], zeros<f32>[4]);\n}',
    ['bad.tile:2:11: cannot broadcast f32[16, 8], f32[16, 1] and f32[4] together']],
  ['unknown function', H + '  let x = frob(1);\n}',
    ["bad.tile:2:11: unknown function 'frob'; the functions are exp, exp2, log, log2, sqrt, rsqrt, abs, max, min, sum, where, fma, dot, cdiv, transpose, permute, unsqueeze, broadcast, reshape"]],
  ['permute that is not a permutation', H + '  let x = permute(load a[0 :+ 4, 0 :+ 8], [1, 1]);\n}',
    ['bad.tile:2:43: permute(...) of f16[4, 8] needs each of the dimensions 0..1 once; got [1, 1]']],
  ['permute without its order', H + '  let x = permute(load a[0 :+ 4, 0 :+ 8]);\n}',
    ['bad.tile:2:11: permute(t, [dims]) needs the order of the dimensions in brackets']],
  ['constant assert', 'kernel k<BM = 48>(a: f32[N]) grid(1) threads(32) {\n  assert BM % 32 == 0, "BM must be a multiple of 32";\n}',
    ['bad.tile:2:3: assertion failed: BM must be a multiple of 32']],
  ['if on a tile', H + '  if iota<i32>[4](0) < 2 { sync; }\n}', ['bad.tile:2:6: `if` needs a bool scalar (the same for the whole block); got bool[4]']],
  ['float scalar into an integer tile', H + '  let x = iota<i32>[4](0) + s;\n}', ['bad.tile:2:11: a float scalar cannot become an integer i32; cast it']],
  ['template parameter without a value', 'kernel k<BM>(a: f32[N]) grid(1) threads(32) { }', ['bad.tile:1:10: template parameter BM has no default; give it with --set BM=VALUE']],
  ['unknown data type', 'kernel k(a: f7[N]) grid(1) threads(32) { }',
    ["bad.tile:1:10: 'f7' is not a data type; the types are i1..i8, u1..u8, i16, u16, i32, u32, f16, bf16, f32, e8m0, and minifloats f<N>e<E>m<M> with N = 1 + E + M, 3 <= N <= 8 and E >= 1 (for example f8e4m3, f6e3m2, f4e2m1)"]],
  ['syntax error', H + '  let x = 1 +;\n}', ["bad.tile:2:14: syntax error: expected an expression, found ';'"]],
  ['missing semicolon', H + '  let x = 1\n}', ['bad.tile:3:1: syntax error: expected ";", found \'}\'']],
  ['reduction without axis', H + '  let x = sum(zeros<f32>[4]);\n}', ['bad.tile:2:11: sum(t, axis=k) needs the axis= keyword']],
  ['too many threads', 'kernel k(a: f32[N]) grid(1) threads(2048) { }', ['bad.tile:1:37: a block has 1 to 1024 threads; got 2048']],
  ['copy between types', H + '  let sa = shared<f32>[16, 16];\n  copy_async sa[0 :+ 16, 0 :+ 16] <- a[0 :+ 16, 0 :+ 16];\n}',
    ["bad.tile:3:3: copy_async copies bits unchanged: 'sa' holds f32, 'a' holds f16"]],
  ['a name defined twice', H + '  let x = 1;\n  let x = 2;\n}', ["bad.tile:3:3: 'x' is already defined in this block"]],
  ['var assigned another type', H + '  var acc = zeros<f32>[4];\n  acc = zeros<f16>[4];\n}', ["bad.tile:3:3: 'acc' is f32[4]; the value assigned is f16[4]"]],
  ['non-positive step', H + '  for i in range(0, 8, 0) { sync; }\n}', ["bad.tile:2:24: a range's step must be positive; got 0"]],
  ['unknown layout atom', H + '  let x = zeros<f32>[4] @ blocked(4);\n}',
    ["bad.tile:2:27: unknown layout 'blocked'; the layout atoms are local, spatial, column_local, column_spatial and replicated"]],
];

describe('diagnostics', () => {
  it.each(cases)('%s', (_, source, want) => {
    expect(diagnose(source)).toEqual(want);
  });

  it('reports independent errors together, in source order', () => {
    expect(diagnose(H + '  let x = q;\n  let y = zeros<f32>[4] + zeros<f32>[5];\n  store zz[0] = 1;\n}')).toEqual([
      "bad.tile:2:11: unknown name 'q'",
      'bad.tile:3:11: cannot broadcast f32[4] with f32[5] for `+`',
      "bad.tile:4:9: store to 'zz', which is not a parameter or a shared allocation",
    ]);
  });

  it('prints the source line and a caret under the span', () => {
    try {
      compileSource(H + '  let x = y + 1;\n}', { file: 'bad.tile' });
    } catch (e) {
      expect((e as Error).message).toBe("bad.tile:2:11: unknown name 'y'\n    let x = y + 1;\n            ^");
    }
    expect.assertions(1);
  });
});
