// The syntax tree of a `.tile` file: what the parser builds and the elaborator reads. Every node carries
// its source span so that any later error can point at it.

export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Program {
  readonly layouts: readonly LayoutDecl[];
  readonly kernels: readonly KernelDecl[];
}

export interface LayoutDecl {
  readonly kind: 'layout_decl';
  readonly name: string;
  readonly value: LayoutNode;
  readonly span: Span;
}

export type TemplateParam =
  | { readonly kind: 'int'; readonly name: string; readonly default: Expr | null; readonly span: Span }
  | { readonly kind: 'dtype'; readonly name: string; readonly default: string | null; readonly span: Span };

export type Param =
  | { readonly kind: 'tensor'; readonly name: string; readonly dtype: string; readonly shape: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'scalar'; readonly name: string; readonly dtype: string; readonly span: Span };

export interface KernelDecl {
  readonly kind: 'kernel';
  readonly name: string;
  readonly template: readonly TemplateParam[];
  readonly params: readonly Param[];
  readonly grid: readonly Expr[];
  /** `threads(T)` or `warps(W)` (W * 32 threads). */
  readonly threads: { readonly unit: 'threads' | 'warps'; readonly count: Expr };
  readonly body: readonly Stmt[];
  readonly span: Span;
}

/** An index entry: `e` (a point; the dimension is dropped) or `e :+ extent` (a slice). */
export interface IndexEntry {
  readonly start: Expr;
  readonly extent: Expr | null;
  readonly span: Span;
}

export type Stmt =
  | LayoutDecl
  | { readonly kind: 'let'; readonly name: string; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'var'; readonly name: string; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'assign'; readonly name: string; readonly value: Expr; readonly span: Span }
  /** `store t[...] = v;`, or with `+=` (accumulate) `store t[...] += v;`. */
  | { readonly kind: 'store'; readonly target: string; readonly index: readonly IndexEntry[]; readonly value: Expr; readonly accumulate: boolean; readonly span: Span; readonly targetSpan: Span }
  | { readonly kind: 'copy_async'; readonly dst: string; readonly dstIndex: readonly IndexEntry[]; readonly src: string; readonly srcIndex: readonly IndexEntry[]; readonly span: Span }
  | { readonly kind: 'wait_async'; readonly count: Expr; readonly span: Span }
  | { readonly kind: 'sync'; readonly span: Span }
  | { readonly kind: 'for'; readonly var: string; readonly range: readonly Expr[]; readonly unroll: Expr | null; readonly body: readonly Stmt[]; readonly span: Span }
  | { readonly kind: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] | null; readonly span: Span }
  | { readonly kind: 'assert'; readonly cond: Expr; readonly message: string | null; readonly span: Span };

export type Arg =
  | { readonly kind: 'positional'; readonly value: Expr }
  | { readonly kind: 'keyword'; readonly name: string; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'list'; readonly items: readonly Expr[]; readonly span: Span };

export type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '|' | '^' | '&' | '<<' | '>>' | '+' | '-' | '*' | '/' | '%';

export type Expr =
  | { readonly kind: 'number'; readonly value: number; readonly isFloat: boolean; readonly span: Span }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'block_index'; readonly axis: string; readonly span: Span }
  | { readonly kind: 'unary'; readonly op: '-' | '!'; readonly operand: Expr; readonly span: Span }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: 'cond'; readonly cond: Expr; readonly then: Expr; readonly else: Expr; readonly span: Span }
  | { readonly kind: 'call'; readonly callee: string; readonly args: readonly Arg[]; readonly span: Span }
  | { readonly kind: 'load'; readonly source: string; readonly index: readonly IndexEntry[]; readonly layout: LayoutNode | null; readonly span: Span }
  | { readonly kind: 'create'; readonly op: 'zeros' | 'full' | 'iota'; readonly dtype: string; readonly shape: readonly Expr[]; readonly arg: Expr | null; readonly layout: LayoutNode | null; readonly span: Span }
  | { readonly kind: 'shared'; readonly dtype: string; readonly shape: readonly Expr[]; readonly layout: LayoutNode | null; readonly span: Span }
  | { readonly kind: 'convert'; readonly op: 'cast' | 'view'; readonly dtype: string; readonly operand: Expr; readonly span: Span };

export type LayoutNode =
  | { readonly kind: 'atom'; readonly name: string; readonly args: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'named'; readonly name: string; readonly span: Span }
  | { readonly kind: 'product'; readonly left: LayoutNode; readonly right: LayoutNode; readonly span: Span }
  | { readonly kind: 'chain'; readonly base: LayoutNode; readonly name: string; readonly args: readonly Expr[]; readonly span: Span };
