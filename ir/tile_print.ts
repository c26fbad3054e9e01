// Prints Tile IR as text: what --dump-ir shows and what golden tests pin.

import { printLayout } from './layout_print.ts';
import type { SharedLayout } from './shared_layout.ts';
import { printSym } from './sym.ts';
import type { IndexEntry, Inst, Kernel, Stmt, Type, Value, ValueId } from './tile_ir.ts';

export function printType(t: Type): string {
  switch (t.kind) {
    case 'scalar':
      return t.dtype;
    case 'tile':
      return `${t.dtype}[${t.shape.join(', ')}]${t.layout ? ` @ ${printLayout(t.layout)}` : ''}`;
    case 'shared':
      return `shared ${t.dtype}[${t.shape.join(', ')}] @ ${printShared(t.layout)}`;
  }
}

export function printShared(l: SharedLayout): string {
  const s = `strided(${l.strides.join(', ')})`;
  return l.swizzle ? `${s}.swizzle(${l.swizzle.bits}, ${l.swizzle.base}, ${l.swizzle.shift})` : s;
}

export function printKernel(k: Kernel): string {
  const names = new Map<ValueId, string>();
  const ref = (id: ValueId): string => names.get(id) ?? `%${id}`;
  const define = (v: Value): string => {
    const n = v.name ? `%${v.name}.${v.id}` : `%${v.id}`;
    names.set(v.id, n);
    return n;
  };
  const index = (ix: readonly IndexEntry[]): string => ix.map((e) => (e.extent === null ? ref(e.offset) : `${ref(e.offset)} :+ ${e.extent}`)).join(', ');
  const inst = (i: Inst): string => {
    switch (i.op) {
      case 'const':
        return `const ${printNumber(i.value)}`;
      case 'symbol':
        return `symbol ${i.name}`;
      case 'param':
        return `param ${i.name}`;
      case 'block_index':
        return `block_index ${'xyz'[i.axis]}`;
      case 'unary':
        return `${i.fn} ${ref(i.x)}`;
      case 'binary':
        return `${i.fn} ${ref(i.a)}, ${ref(i.b)}`;
      case 'select':
        return `select ${ref(i.cond)}, ${ref(i.a)}, ${ref(i.b)}`;
      case 'fma':
        return `fma ${ref(i.a)}, ${ref(i.b)}, ${ref(i.c)}`;
      case 'cast':
      case 'view':
      case 'broadcast':
      case 'reshape':
        return `${i.op} ${ref(i.x)}`;
      case 'full':
        return `full ${ref(i.value)}`;
      case 'iota':
        return `iota ${i.axis}`;
      case 'load':
        return `load ${i.tensor}[${index(i.index)}]`;
      case 'load_shared':
        return `load_shared ${ref(i.shared)}[${index(i.index)}]`;
      case 'alloc_shared':
        return 'alloc_shared';
      case 'dot':
        return `dot ${ref(i.a)}, ${ref(i.b)}${i.c === null ? '' : `, ${ref(i.c)}`}`;
      case 'reduce':
        return `${i.fn} ${ref(i.x)}, axis=${i.axis}`;
      case 'permute':
        return `permute ${ref(i.x)}, [${i.perm.join(', ')}]`;
      case 'var_get':
        return `var_get $${i.var}`;
    }
  };
  const lines: string[] = [];
  const body = (stmts: readonly Stmt[], indent: string): void => {
    for (const s of stmts) {
      switch (s.kind) {
        case 'def':
          lines.push(`${indent}${define(s.result)} = ${inst(s.inst)} : ${printType(s.result.type)}`);
          break;
        case 'var':
          lines.push(`${indent}var $${s.var} (${s.name}) : ${printType(s.type)} = ${ref(s.init)}`);
          break;
        case 'assign':
          lines.push(`${indent}$${s.var} = ${ref(s.value)}`);
          break;
        case 'store':
          lines.push(`${indent}store ${s.tensor}[${index(s.index)}] ${s.accumulate ? '+=' : '='} ${ref(s.value)}`);
          break;
        case 'store_shared':
          lines.push(`${indent}store_shared ${ref(s.shared)}[${index(s.index)}] = ${ref(s.value)}`);
          break;
        case 'copy_async':
          lines.push(`${indent}copy_async ${ref(s.shared)}[${index(s.sharedIndex)}] <- ${s.tensor}[${index(s.index)}]`);
          break;
        case 'commit_async':
          lines.push(`${indent}commit_async`);
          break;
        case 'wait_async':
          lines.push(`${indent}wait_async ${s.pending}`);
          break;
        case 'sync':
          lines.push(`${indent}sync`);
          break;
        case 'for':
          lines.push(`${indent}for ${define(s.index)} in range(${ref(s.start)}, ${ref(s.end)}, ${ref(s.step)})${s.unroll > 1 ? ` unroll(${s.unroll})` : ''} {`);
          body(s.body, indent + '  ');
          lines.push(`${indent}}`);
          break;
        case 'if':
          lines.push(`${indent}if ${ref(s.cond)} {`);
          body(s.then, indent + '  ');
          if (s.else.length) {
            lines.push(`${indent}} else {`);
            body(s.else, indent + '  ');
          }
          lines.push(`${indent}}`);
          break;
        case 'assert':
          lines.push(`${indent}assert ${ref(s.cond)}, ${JSON.stringify(s.message)}`);
          break;
      }
    }
  };
  const template = Object.entries(k.template).map(([n, v]) => `${n} = ${v}`).join(', ');
  const params = k.params.map((p) => (p.kind === 'tensor' ? `${p.name}: ${p.dtype}[${p.shape.map(printSym).join(', ')}]` : `${p.name}: ${p.dtype}`)).join(', ');
  lines.push(`kernel ${k.name}${template ? `<${template}>` : ''}(${params}) grid(${k.grid.map(printSym).join(', ')}) threads(${k.threads}) {`);
  for (const c of k.checks) lines.push(`  check ${printSym(c.cond)}, ${JSON.stringify(c.message)}`);
  body(k.body, '  ');
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** A number as the DSL spells it: inf, -inf, nan, -0. */
export function printNumber(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return Object.is(v, -0) ? '-0' : String(v);
}
