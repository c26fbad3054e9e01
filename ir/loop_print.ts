// Prints Loop IR as text: what --dump-ir shows for the Loop IR passes.

import type { Expr, LFunction, LModule, Stmt } from './loop_ir.ts';

/** The memory space of an access, printed after its width: `load32.f32@shared[...]`. */
const memOf = (mem: string | undefined): string => (mem ? `@${mem}` : '');

export function printExpr(e: Expr): string {
  switch (e.k) {
    case 'const':
      return e.type === 'f32' ? `${Number.isInteger(e.value) ? e.value.toFixed(1) : e.value}f` : String(e.value);
    case 'vconst':
      return `v128(${e.bytes.join(' ')})`;
    case 'get':
      return e.name;
    case 'load':
      return `load${e.bits}${e.signed ? 's' : ''}.${e.type}${memOf(e.mem)}[${printExpr(e.addr)}${e.offset ? ` + ${e.offset}` : ''}]`;
    case 'bits':
      return `bits${e.width}${memOf(e.mem)}[${printExpr(e.base)}; ${printExpr(e.index)}]`;
    case 'op':
      return `${e.op}(${e.args.map(printExpr).join(', ')})`;
    case 'select':
      return `select(${printExpr(e.cond)}, ${printExpr(e.a)}, ${printExpr(e.b)})`;
    case 'math':
      return `math.${e.fn}(${e.args.map(printExpr).join(', ')})`;
    case 'call':
      return `call ${e.fn}(${e.args.map(printExpr).join(', ')})`;
    case 'intrinsic':
      return `${e.name}(${e.args.map(printExpr).join(', ')})`;
    case 'aget':
      return `${e.array}[${printExpr(e.index)}]`;
  }
}

function printStmts(body: readonly Stmt[], indent: string, out: string[]): void {
  for (const s of body) {
    switch (s.k) {
      case 'set':
        out.push(`${indent}${s.name} = ${printExpr(s.value)}`);
        break;
      case 'loadwords':
        out.push(`${indent}${s.names.join(', ')} = loadwords${s.names.length * 32}@${s.mem}[${printExpr(s.addr)}]`);
        break;
      case 'storewords':
        out.push(`${indent}storewords${s.values.length * 32}@${s.mem}[${printExpr(s.addr)}] = ${s.values.map(printExpr).join(', ')}`);
        break;
      case 'copywords':
        out.push(`${indent}copywords${s.words * 32}@shared[${printExpr(s.sharedAddr)}] <- @${s.mem}[${printExpr(s.addr)}]`);
        break;
      case 'asynccommit':
        out.push(`${indent}asynccommit`);
        break;
      case 'ldmatrix':
        out.push(`${indent}${s.names.join(', ')} = ldmatrix.x${s.names.length}${s.trans ? '.trans' : ''}@shared[${printExpr(s.addr)}]`);
        break;
      case 'mma':
        out.push(`${indent}mma.m16n8k16.${s.type} ${s.acc}[${s.at.map(printExpr).join(', ')}] += [${s.a.map(printExpr).join(', ')}] . [${s.b.map(printExpr).join(', ')}]`);
        break;
      case 'asyncwait':
        out.push(`${indent}asyncwait ${s.pending}`);
        break;
      case 'aset':
        out.push(`${indent}${s.array}[${printExpr(s.index)}] = ${printExpr(s.value)}`);
        break;
      case 'store':
        out.push(`${indent}store${s.bits}${memOf(s.mem)}[${printExpr(s.addr)}${s.offset ? ` + ${s.offset}` : ''}] = ${printExpr(s.value)}`);
        break;
      case 'atomic':
        out.push(`${indent}atomic.${s.op}32${memOf(s.mem)}[${printExpr(s.addr)}] ${printExpr(s.value)}`);
        break;
      case 'for':
        out.push(`${indent}for${s.unroll === undefined ? '' : s.unroll ? '.unroll' : '.rolled'} ${s.var} in ${printExpr(s.start)} .. ${printExpr(s.end)} step ${printExpr(s.step)} {`);
        printStmts(s.body, indent + '  ', out);
        out.push(`${indent}}`);
        break;
      case 'if':
        out.push(`${indent}if ${printExpr(s.cond)} {`);
        printStmts(s.then, indent + '  ', out);
        if (s.else.length) {
          out.push(`${indent}} else {`);
          printStmts(s.else, indent + '  ', out);
        }
        out.push(`${indent}}`);
        break;
      case 'barrier':
        out.push(`${indent}barrier`);
        break;
      case 'trap':
        out.push(`${indent}trap ${s.code}`);
        break;
      case 'return':
        out.push(`${indent}return ${printExpr(s.value)}`);
        break;
    }
  }
}

export function printFunction(f: LFunction): string {
  const out = [`func ${f.name}(${f.params.map((p) => `${p.name}: ${p.type}`).join(', ')})${f.result ? `: ${f.result}` : ''} {`];
  for (const l of f.locals) out.push(`  local ${l.name}: ${l.type}`);
  for (const a of f.arrays ?? []) out.push(`  array ${a.name}: ${a.type}[${a.length}]`);
  printStmts(f.body, '  ', out);
  out.push('}');
  return out.join('\n');
}

export function printModule(m: LModule): string {
  const head = [`// data ${m.dataBytes} bytes in ${m.data.length} tables; scratch ${m.scratchBytes} bytes per block`];
  m.traps.forEach((t, i) => head.push(`// trap ${i + 1}: ${t}`));
  return [...head, ...m.functions.map(printFunction)].join('\n\n') + '\n';
}
