// The Loop IR verifier: every name is a declared local of one type, every operation gets the operand
// types of its signature (OPS in loop_ir.ts), stores store what their width holds, calls match their
// callee, and traps stay in the block function. Tests run it after every Loop IR pass.

import { type Expr, type LFunction, type LModule, type LType, MATH_ARITY, OPS, type Stmt } from './loop_ir.ts';

export class LoopVerifyError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Loop IR is invalid:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  ... ${problems.length - 20} more` : ''}`);
    this.name = 'LoopVerifyError';
  }
}

export function verifyModule(m: LModule): void {
  const problems: string[] = [];
  const signatures = new Map(m.functions.map((f) => [f.name, f]));
  for (const f of m.functions) verifyFunction(f, signatures, m.traps.length, problems);
  if (!signatures.has('block')) problems.push('the module has no block function');
  if (problems.length) throw new LoopVerifyError(problems);
}

function verifyFunction(f: LFunction, fns: ReadonlyMap<string, LFunction>, traps: number, problems: string[]): void {
  const types = new Map<string, LType>();
  const arrays = new Map((f.arrays ?? []).map((a) => [a.name, a]));
  for (const l of [...f.params, ...f.locals, ...(f.arrays ?? [])]) {
    if (types.has(l.name)) problems.push(`${f.name}: local ${l.name} is declared twice`);
    types.set(l.name, l.type);
  }
  const where = (what: string): string => `${f.name}: ${what}`;
  const expr = (e: Expr): LType | null => {
    switch (e.k) {
      case 'const':
        return e.type;
      case 'vconst':
        if (e.bytes.length !== 16) problems.push(where('a v128 constant needs 16 bytes'));
        return 'v128';
      case 'get': {
        const t = types.get(e.name);
        if (!t) problems.push(where(`'${e.name}' is not a local`));
        return t ?? null;
      }
      case 'load': {
        if (expr(e.addr) !== 'i32') problems.push(where('a load address must be i32'));
        const ok = e.type === 'v128' ? e.bits >= 32 : e.type === 'f32' ? e.bits === 32 : e.bits <= 32;
        if (!ok) problems.push(where(`a ${e.bits}-bit load cannot give ${e.type}`));
        return e.type;
      }
      case 'bits':
        if (expr(e.base) !== 'i32' || expr(e.index) !== 'i32') problems.push(where('a bit field needs an i32 base and index'));
        if (!(Number.isInteger(e.width) && e.width >= 1 && e.width <= 8)) problems.push(where(`a bit field of ${e.width} bits`));
        return 'i32';
      case 'op': {
        const sig = OPS[e.op];
        if (!sig) {
          problems.push(where(`unknown op ${e.op}`));
          return null;
        }
        if (sig.args.length !== e.args.length) problems.push(where(`${e.op} takes ${sig.args.length} operands, got ${e.args.length}`));
        e.args.forEach((a, i) => {
          const t = expr(a);
          if (t && t !== sig.args[i]) problems.push(where(`${e.op} operand ${i} is ${t}, must be ${sig.args[i]}`));
        });
        return sig.result;
      }
      case 'select': {
        if (expr(e.cond) !== 'i32') problems.push(where('a select condition must be i32'));
        const [a, b] = [expr(e.a), expr(e.b)];
        if (a !== b) problems.push(where(`select between ${a} and ${b}`));
        return a;
      }
      case 'math': {
        if (e.args.length !== MATH_ARITY[e.fn]) problems.push(where(`math.${e.fn} takes ${MATH_ARITY[e.fn]} operands`));
        const types = e.args.map(expr);
        const t = types[0] ?? 'f32';
        if (types.some((x) => x !== t) || (t !== 'f32' && t !== 'v128')) problems.push(where(`math.${e.fn} takes f32 or v128 operands of one type`));
        if (t === 'v128' && e.fn !== 'exp' && e.fn !== 'exp2') problems.push(where(`math.${e.fn} has no four-lane form`));
        return t === 'v128' ? 'v128' : 'f32';
      }
      case 'call': {
        const callee = fns.get(e.fn);
        if (!callee) problems.push(where(`call of unknown function ${e.fn}`));
        else {
          if (callee.result !== e.type) problems.push(where(`${e.fn} returns ${callee.result}, the call expects ${e.type}`));
          e.args.forEach((a, i) => expr(a) !== callee.params[i]?.type && problems.push(where(`argument ${i} of ${e.fn} has the wrong type`)));
        }
        return e.type;
      }
      case 'intrinsic':
        e.args.forEach(expr);
        return e.type;
      case 'aget': {
        const a = arrays.get(e.array);
        if (!a) problems.push(where(`'${e.array}' is not an array`));
        if (expr(e.index) !== 'i32') problems.push(where('an array index must be i32'));
        if (e.index.k === 'const' && a && !(e.index.value >= 0 && e.index.value < a.length)) problems.push(where(`index ${e.index.value} is outside ${e.array}[${a.length}]`));
        return a?.type ?? null;
      }
    }
  };
  const stmts = (body: readonly Stmt[]): void => {
    for (const s of body) {
      switch (s.k) {
        case 'set': {
          const [t, v] = [types.get(s.name), expr(s.value)];
          if (!t) problems.push(where(`'${s.name}' is not a local`));
          else if (v && v !== t) problems.push(where(`${s.name}: ${t} is set to a ${v}`));
          break;
        }
        case 'loadwords':
          if (expr(s.addr) !== 'i32') problems.push(where('a load address must be i32'));
          if (![1, 2, 4].includes(s.names.length)) problems.push(where(`loadwords of ${s.names.length} words`));
          for (const n of s.names) if (types.get(n) !== 'i32') problems.push(where(`loadwords into ${n}, which is not an i32 local`));
          break;
        case 'copywords':
          if (expr(s.addr) !== 'i32' || expr(s.sharedAddr) !== 'i32') problems.push(where('copy addresses must be i32'));
          if (![1, 2, 4].includes(s.words)) problems.push(where(`copywords of ${s.words} words`));
          break;
        case 'ldmatrix':
          if (expr(s.addr) !== 'i32') problems.push(where('an ldmatrix address must be i32'));
          if (![2, 4].includes(s.names.length)) problems.push(where(`ldmatrix of ${s.names.length} matrices`));
          for (const n of s.names) if (types.get(n) !== 'i32') problems.push(where(`ldmatrix into ${n}, which is not an i32 local`));
          break;
        case 'mma': {
          if (s.a.length !== 4 || s.b.length !== 2 || s.at.length !== 4) problems.push(where('mma takes 4 words of a, 2 of b and 4 accumulator indices'));
          for (const e of [...s.a, ...s.b, ...s.at]) if (expr(e) !== 'i32') problems.push(where('mma fragments and indices are i32'));
          if (arrays.get(s.acc)?.type !== 'f32') problems.push(where(`mma accumulates into '${s.acc}', which is not an f32 array`));
          break;
        }
        case 'storewords':
          if (expr(s.addr) !== 'i32') problems.push(where('a store address must be i32'));
          if (![1, 2, 4].includes(s.values.length)) problems.push(where(`storewords of ${s.values.length} words`));
          for (const v of s.values) if (expr(v) !== 'i32') problems.push(where('storewords stores i32 words'));
          break;
        case 'aset': {
          const a = arrays.get(s.array);
          if (!a) problems.push(where(`'${s.array}' is not an array`));
          if (expr(s.index) !== 'i32') problems.push(where('an array index must be i32'));
          const v = expr(s.value);
          if (a && v && v !== a.type) problems.push(where(`${s.array}: ${a.type}[] is set to a ${v}`));
          break;
        }
        case 'store': {
          if (expr(s.addr) !== 'i32') problems.push(where('a store address must be i32'));
          const v = expr(s.value);
          const ok = s.bits === 128 ? v === 'v128' : s.bits === 32 ? v === 'i32' || v === 'f32' : v === 'i32';
          if (!ok) problems.push(where(`a ${s.bits}-bit store of ${v}`));
          break;
        }
        case 'atomic':
          if (expr(s.addr) !== 'i32' || expr(s.value) !== (s.op === 'fadd' ? 'f32' : 'i32')) problems.push(where(`atomic ${s.op} takes an i32 address and an ${s.op === 'fadd' ? 'f32' : 'i32'} value`));
          break;
        case 'for':
          if (types.get(s.var) !== 'i32') problems.push(where(`loop variable ${s.var} must be an i32 local`));
          [s.start, s.end, s.step].forEach((x) => expr(x) !== 'i32' && problems.push(where('loop bounds must be i32')));
          stmts(s.body);
          break;
        case 'if':
          if (expr(s.cond) !== 'i32') problems.push(where('an if condition must be i32'));
          stmts(s.then);
          stmts(s.else);
          break;
        case 'barrier':
          break;
        case 'trap':
          if (f.name !== 'block') problems.push(where('traps belong to the block function'));
          if (!(s.code >= 1 && s.code <= traps)) problems.push(where(`trap ${s.code} has no message`));
          break;
        case 'return':
          if (expr(s.value) !== f.result) problems.push(where(`returns ${expr(s.value)}, declared ${f.result}`));
          break;
      }
    }
  };
  stmts(f.body);
}
