// A small argument reader for the CLI: positionals, `--flag`, `--key value` and `--key=value`.

export interface Args {
  readonly positional: string[];
  /** Each option's values in order; a bare flag has the value ''. */
  readonly options: Map<string, string[]>;
}

/** Reads argv. `valued` names the options that take a value; every other `--x` is a flag. */
export function parseArgs(argv: readonly string[], valued: ReadonlySet<string>): Args {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  const add = (k: string, v: string): void => void options.set(k, [...(options.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    // A one-letter short option, `-o FILE`, is the long option `--o`.
    const a = /^-[a-zA-Z]$/.test(argv[i]!) ? `-${argv[i]}` : argv[i]!;
    if (!a.startsWith('--') || a === '--') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) add(a.slice(2, eq), a.slice(eq + 1));
    else if (valued.has(a.slice(2))) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      add(a.slice(2), argv[++i]!);
    } else add(a.slice(2), '');
  }
  return { positional, options };
}

/** A mistake in how the CLI was called: printed without a stack trace, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
