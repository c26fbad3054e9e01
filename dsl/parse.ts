// The parser: the grammar in tile.ohm, and semantic actions that only build the syntax tree of ast.ts.

import * as ohm from 'ohm-js';
import type * as A from './ast.ts';
import { DiagnosticError } from './diagnostics.ts';
import { grammarSource } from './grammar_source.ts';

export const grammar = ohm.grammar(grammarSource);

type N = ohm.Node;
const span = (n: N): A.Span => ({ start: n.source.startIdx, end: n.source.endIdx });
const list = <T>(n: N): T[] => n.asIteration().children.map((c: N) => c.ast as T);
const opt = <T>(n: N): T | null => (n.children.length ? (n.children[0]!.ast as T) : null);

/** `first (op operand)*` folded to the left. */
function chain(first: N, ops: N, operands: N): A.Expr {
  let left = first.ast as A.Expr;
  ops.children.forEach((op, i) => {
    const right = operands.children[i]!;
    left = { kind: 'binary', op: op.sourceString as A.BinaryOp, left, right: right.ast, span: { start: first.source.startIdx, end: right.source.endIdx } };
  });
  return left;
}

const semantics = grammar.createSemantics().addAttribute('ast', {
  Program(items) {
    const all = items.children.map((c) => c.ast as A.LayoutDecl | A.KernelDecl);
    return {
      layouts: all.filter((x): x is A.LayoutDecl => x.kind === 'layout_decl'),
      kernels: all.filter((x): x is A.KernelDecl => x.kind === 'kernel'),
    } satisfies A.Program;
  },
  LayoutDecl(_kw, name, _eq, value, _semi) {
    return { kind: 'layout_decl', name: name.sourceString, value: value.ast, span: span(this) } satisfies A.LayoutDecl;
  },
  Kernel(_kw, name, template, _lp, params, _comma, _rp, grid, threads, body) {
    return {
      kind: 'kernel', name: name.sourceString, template: opt<A.TemplateParam[]>(template) ?? [],
      params: list(params), grid: grid.ast, threads: threads.ast, body: body.ast, span: span(this),
    } satisfies A.KernelDecl;
  },
  TemplateParams(_lt, items, _comma, _gt) {
    return list(items);
  },
  TemplateParam_dtype(name, _colon, _dtype, _eq, value) {
    const v = value.children.length ? value.children[0]!.sourceString : null;
    return { kind: 'dtype', name: name.sourceString, default: v, span: span(this) } satisfies A.TemplateParam;
  },
  TemplateParam_int(name, _eq, value) {
    return { kind: 'int', name: name.sourceString, default: opt<A.Expr>(value), span: span(this) } satisfies A.TemplateParam;
  },
  Param_tensor(name, _colon, dtype, _lb, shape, _comma, _rb) {
    return { kind: 'tensor', name: name.sourceString, dtype: dtype.sourceString, shape: list(shape), span: span(this) } satisfies A.Param;
  },
  Param_scalar(name, _colon, dtype) {
    return { kind: 'scalar', name: name.sourceString, dtype: dtype.sourceString, span: span(this) } satisfies A.Param;
  },
  Grid(_kw, _lp, items, _comma, _rp) {
    return list(items);
  },
  ThreadSpec_threads(_kw, _lp, e, _rp) {
    return { unit: 'threads', count: e.ast };
  },
  ThreadSpec_warps(_kw, _lp, e, _rp) {
    return { unit: 'warps', count: e.ast };
  },
  Block(_lb, stmts, _rb) {
    return stmts.children.map((s) => s.ast);
  },
  Let(_kw, name, _eq, value, _semi) {
    return { kind: 'let', name: name.sourceString, value: value.ast, span: span(this) } satisfies A.Stmt;
  },
  VarDecl(_kw, name, _eq, value, _semi) {
    return { kind: 'var', name: name.sourceString, value: value.ast, span: span(this) } satisfies A.Stmt;
  },
  Assign(name, _eq, value, _semi) {
    return { kind: 'assign', name: name.sourceString, value: value.ast, span: span(this) } satisfies A.Stmt;
  },
  Store(_kw, target, _lb, index, _rb, op, value, _semi) {
    return { kind: 'store', target: target.sourceString, index: index.ast, value: value.ast, accumulate: op.sourceString === '+=', span: span(this), targetSpan: span(target) } satisfies A.Stmt;
  },
  CopyAsync(_kw, dst, _lb, dstIndex, _rb, _arrow, src, _lb2, srcIndex, _rb2, _semi) {
    return { kind: 'copy_async', dst: dst.sourceString, dstIndex: dstIndex.ast, src: src.sourceString, srcIndex: srcIndex.ast, span: span(this) } satisfies A.Stmt;
  },
  WaitAsync(_kw, _lp, count, _rp, _semi) {
    return { kind: 'wait_async', count: count.ast, span: span(this) } satisfies A.Stmt;
  },
  Sync(_kw, _semi) {
    return { kind: 'sync', span: span(this) } satisfies A.Stmt;
  },
  For(_kw, name, _in, _range, _lp, args, _comma, _rp, unroll, body) {
    return { kind: 'for', var: name.sourceString, range: list(args), unroll: opt<A.Expr>(unroll), body: body.ast, span: span(this) } satisfies A.Stmt;
  },
  Unroll(_kw, _lp, e, _rp) {
    return e.ast;
  },
  If(_kw, cond, then, els) {
    return { kind: 'if', cond: cond.ast, then: then.ast, else: opt<A.Stmt[]>(els), span: span(this) } satisfies A.Stmt;
  },
  Else_elseif(_kw, ifStmt) {
    return [ifStmt.ast];
  },
  Else_block(_kw, block) {
    return block.ast;
  },
  Assert(_kw, cond, message, _semi) {
    return { kind: 'assert', cond: cond.ast, message: opt<string>(message), span: span(this) } satisfies A.Stmt;
  },
  AssertMessage(_comma, s) {
    return s.ast;
  },
  Index(items, _comma) {
    return list(items);
  },
  IndexEntry_slice(start, _op, extent) {
    return { start: start.ast, extent: extent.ast, span: span(this) } satisfies A.IndexEntry;
  },
  IndexEntry_point(start) {
    return { start: start.ast, extent: null, span: span(this) } satisfies A.IndexEntry;
  },
  Expr_cond(cond, _q, then, _c, els) {
    return { kind: 'cond', cond: cond.ast, then: then.ast, else: els.ast, span: span(this) } satisfies A.Expr;
  },
  Or: chain,
  And: chain,
  Cmp: chain,
  BitOr: chain,
  BitXor: chain,
  BitAnd: chain,
  Shift: chain,
  Add: chain,
  Mul: chain,
  Unary_neg(_op, e) {
    return { kind: 'unary', op: '-', operand: e.ast, span: span(this) } satisfies A.Expr;
  },
  Unary_not(_op, e) {
    return { kind: 'unary', op: '!', operand: e.ast, span: span(this) } satisfies A.Expr;
  },
  Primary_paren(_lp, e, _rp) {
    return e.ast;
  },
  Primary_load(_kw, source, _lb, index, _rb, layout) {
    return { kind: 'load', source: source.sourceString, index: index.ast, layout: opt<A.LayoutNode>(layout), span: span(this) } satisfies A.Expr;
  },
  Primary_zeros(_kw, _lt, dtype, _gt, _lb, shape, _rb, layout) {
    return { kind: 'create', op: 'zeros', dtype: dtype.sourceString, shape: shape.ast, arg: null, layout: opt<A.LayoutNode>(layout), span: span(this) } satisfies A.Expr;
  },
  Primary_full(_kw, _lt, dtype, _gt, _lb, shape, _rb, _lp, arg, _rp, layout) {
    return { kind: 'create', op: 'full', dtype: dtype.sourceString, shape: shape.ast, arg: arg.ast, layout: opt<A.LayoutNode>(layout), span: span(this) } satisfies A.Expr;
  },
  Primary_iota(_kw, _lt, dtype, _gt, _lb, shape, _rb, _lp, arg, _rp, layout) {
    return { kind: 'create', op: 'iota', dtype: dtype.sourceString, shape: shape.ast, arg: arg.ast, layout: opt<A.LayoutNode>(layout), span: span(this) } satisfies A.Expr;
  },
  Primary_shared(_kw, _lt, dtype, _gt, _lb, shape, _rb, layout) {
    return { kind: 'shared', dtype: dtype.sourceString, shape: shape.ast, layout: opt<A.LayoutNode>(layout), span: span(this) } satisfies A.Expr;
  },
  Primary_cast(_kw, _lt, dtype, _gt, _lp, e, _rp) {
    return { kind: 'convert', op: 'cast', dtype: dtype.sourceString, operand: e.ast, span: span(this) } satisfies A.Expr;
  },
  Primary_view(_kw, _lt, dtype, _gt, _lp, e, _rp) {
    return { kind: 'convert', op: 'view', dtype: dtype.sourceString, operand: e.ast, span: span(this) } satisfies A.Expr;
  },
  Primary_block(_kw, _dot, axis) {
    return { kind: 'block_index', axis: axis.sourceString, span: span(this) } satisfies A.Expr;
  },
  Primary_call(callee, _lp, args, _comma, _rp) {
    return { kind: 'call', callee: callee.sourceString, args: list(args), span: span(this) } satisfies A.Expr;
  },
  Primary_number(n) {
    return n.ast;
  },
  Primary_inf(_kw) {
    return { kind: 'number', value: Infinity, isFloat: true, span: span(this) } satisfies A.Expr;
  },
  Primary_true(_kw) {
    return { kind: 'bool', value: true, span: span(this) } satisfies A.Expr;
  },
  Primary_false(_kw) {
    return { kind: 'bool', value: false, span: span(this) } satisfies A.Expr;
  },
  Primary_name(name) {
    return { kind: 'name', name: name.sourceString, span: span(this) } satisfies A.Expr;
  },
  Shape(items, _comma) {
    return list(items);
  },
  Arg_keyword(name, _eq, value) {
    return { kind: 'keyword', name: name.sourceString, value: value.ast, span: span(this) } satisfies A.Arg;
  },
  Arg_list(_lb, items, _comma, _rb) {
    return { kind: 'list', items: list(items), span: span(this) } satisfies A.Arg;
  },
  Arg_positional(e) {
    return { kind: 'positional', value: e.ast } satisfies A.Arg;
  },
  LayoutAttach(_at, layout) {
    return layout.ast;
  },
  LayoutExpr(first, _stars, rest) {
    return rest.children.reduce<A.LayoutNode>(
      (left, right) => ({ kind: 'product', left, right: right.ast, span: { start: first.source.startIdx, end: right.source.endIdx } }),
      first.ast,
    );
  },
  LayoutPostfix_chain(base, _dot, name, _lp, args, _comma, _rp) {
    return { kind: 'chain', base: base.ast, name: name.sourceString, args: list(args), span: span(this) } satisfies A.LayoutNode;
  },
  LayoutPrimary_atom(name, _lp, args, _comma, _rp) {
    return { kind: 'atom', name: name.sourceString, args: list(args), span: span(this) } satisfies A.LayoutNode;
  },
  LayoutPrimary_paren(_lp, l, _rp) {
    return l.ast;
  },
  LayoutPrimary_named(name) {
    return { kind: 'named', name: name.sourceString, span: span(this) } satisfies A.LayoutNode;
  },
  number_hex(_0x, digits) {
    return { kind: 'number', value: parseInt(digits.sourceString, 16), isFloat: false, span: span(this) } satisfies A.Expr;
  },
  number_fraction(_int, _dot, _frac, _exp) {
    return { kind: 'number', value: Number(this.sourceString), isFloat: true, span: span(this) } satisfies A.Expr;
  },
  number_exponent(_int, _exp) {
    return { kind: 'number', value: Number(this.sourceString), isFloat: true, span: span(this) } satisfies A.Expr;
  },
  number_integer(_digits) {
    return { kind: 'number', value: Number(this.sourceString), isFloat: false, span: span(this) } satisfies A.Expr;
  },
  string(_lq, chars, _rq) {
    return chars.sourceString;
  },
  _iter(...children) {
    return children.map((c) => c.ast);
  },
  _terminal() {
    return this.sourceString;
  },
});

/** Parses a `.tile` source; a syntax error becomes a DiagnosticError at the furthest point reached. */
export function parse(source: string, file = '<input>'): A.Program {
  const match = grammar.match(source);
  if (match.failed()) {
    const at = match.getRightmostFailurePosition();
    const expected = summarizeExpected(expectedItems(match.getExpectedText()));
    const found = source.slice(at).match(/^\s*(\S{1,20})/)?.[1];
    const message = `syntax error: expected ${expected}${found ? `, found '${found}'` : ' before the end of the file'}`;
    throw new DiagnosticError([{ span: { start: at, end: at + Math.max(1, found?.length ?? 1) }, message }], source, file);
  }
  return semantics(match).ast as A.Program;
}

/** Splits ohm's `"a", "b", a letter, or "c"` into its items (literals keep their quotes). */
function expectedItems(text: string): string[] {
  const pieces = text.match(/"(?:[^"\\]|\\.)*"|[^",]+/g) ?? [];
  return pieces.flatMap((p) => (p.startsWith('"') ? [p] : p.split(/\bor\b/).map((x) => x.trim()))).filter((t) => t !== '');
}

const EXPRESSION_START = ['"false"', '"true"', '"inf"', '"0x"', '"block"', '"view"', '"cast"', '"shared"', '"iota"', '"full"', '"zeros"', '"load"', '"("', '"!"', '"-"'];
const OPERATORS = ['"||"', '"&&"', '">"', '"<"', '">="', '"<="', '"!="', '"=="', '"|"', '"^"', '"&"', '">>"', '"<<"', '"-"', '"+"', '"%"', '"/"', '"*"', '"?"', '"@"', '":+"'];

/** What the parser wanted, in words: expression starters become "an expression", and the operators
 * that could have continued an expression are left out when something else was expected too. */
function summarizeExpected(texts: string[]): string {
  let items = [...new Set(texts)];
  if (EXPRESSION_START.every((e) => items.includes(e))) {
    items = items.filter((t) => !EXPRESSION_START.includes(t) && !['a letter', 'a digit', '"_"', 'an alpha-numeric character'].includes(t));
    items.push('an expression');
  }
  // Continuations of a name or an expression are noise next to what was really missing.
  const continuation = items.includes('an alpha-numeric character') ? ['an alpha-numeric character', '"_"'] : [];
  const rest = items.filter((t) => !OPERATORS.includes(t) && !continuation.includes(t));
  if (rest.length > 0) items = rest;
  if (items.includes('a letter') && items.includes('"_"')) {
    items = [...items.filter((t) => !['a letter', '"_"', 'an alpha-numeric character', 'a digit'].includes(t)), 'a name'];
  }
  // Keywords that start a statement: say so once.
  const STATEMENTS = ['"assert"', '"if"', '"for"', '"sync"', '"wait_async"', '"copy_async"', '"store"', '"var"', '"let"', '"layout"'];
  if (STATEMENTS.every((k) => items.includes(k))) items = [...items.filter((t) => !STATEMENTS.includes(t) && t !== 'a name'), 'a statement'];
  return items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
