// Errors in a source file: a span and a sentence the user can act on, printed as
// `file:line:col: message`, the source line, and a caret under the span.

import type { Span } from './ast.ts';

export interface Diagnostic {
  readonly span: Span;
  readonly message: string;
}

/** One or more diagnostics for one source file. */
export class DiagnosticError extends Error {
  constructor(
    readonly diagnostics: readonly Diagnostic[],
    readonly source: string,
    readonly file: string,
  ) {
    super(diagnostics.map((d) => formatDiagnostic(d, source, file)).join('\n'));
    this.name = 'DiagnosticError';
  }
}

/** 1-based line and column of an offset. */
export function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function formatDiagnostic(d: Diagnostic, source: string, file: string): string {
  const { line, column } = lineColumn(source, d.span.start);
  const text = source.split('\n')[line - 1] ?? '';
  const width = Math.max(1, Math.min(d.span.end, d.span.start + text.length - column + 1) - d.span.start);
  const caret = ' '.repeat(column - 1) + '^' + (width > 1 ? '~'.repeat(Math.min(width, text.length - column + 1) - 1) : '');
  return `${file}:${line}:${column}: ${d.message}\n  ${text}\n  ${caret}`;
}

/** The first line of a formatted diagnostic: what tests compare. */
export const headline = (d: Diagnostic, source: string, file: string): string => formatDiagnostic(d, source, file).split('\n')[0]!;
