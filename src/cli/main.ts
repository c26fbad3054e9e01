// The `tilebit` command line: one verb per file beside this one.

import { readFileSync } from 'node:fs';
import { WebGpuLimitError, WebGpuRunError, WebGpuUnavailable } from '../../backends/wgsl/runtime.ts';
import { LayoutError } from '../../ir/layout.ts';
import { CudaEmitError } from '../../backends/cuda/emit.ts';
import { CudaRunError, CudaUnavailable } from '../../backends/cuda/runtime.ts';
import { TensorTooLarge } from '../../backends/gpu_addressing.ts';
import { WasmRunError } from '../../backends/wasm/runtime.ts';
import { DiagnosticError } from '../../dsl/diagnostics.ts';
import { DTypeError } from '../../ir/dtype.ts';
import { BuildError } from '../build.ts';
import { NpyError } from '../io/npy.ts';
import { GeneratorError } from '../kernels/dequant_gemm.ts';
import { QuantizeError } from '../quantize.ts';
import { TargetUnavailable } from '../targets.ts';
import { VMError } from '../vm/interpret.ts';
import { parseArgs, UsageError } from './args.ts';
import { buildCommand } from './build.ts';
import { dtypeCommand } from './dtype.ts';
import { genCommand } from './gen.ts';
import { quantizeCommand } from './quantize.ts';
import { checkCommand, compileCommand, runCommand } from './run.ts';
import { TuneError } from '../tune.ts';

/** Errors about the user's input or program: one line and exit status 1, never a stack trace. */
const USER_ERRORS = [DTypeError, VMError, NpyError, WasmRunError, TargetUnavailable, QuantizeError, GeneratorError, BuildError, WebGpuUnavailable, WebGpuRunError, WebGpuLimitError, LayoutError, CudaEmitError, CudaUnavailable, CudaRunError, TensorTooLarge, TuneError];

const USAGE = `usage: tilebit <command> ...

commands:
  run FILE [options]         compile a kernel and run it (default target: wasm)
      --target vm|wasm|webgpu|cuda   --set NAME=VALUE,...   --seed N   --kernel NAME
      --input NAME=FILE.npy   --output NAME=FILE.npy   --check   --dump-ir PASS   --workers N   --quiet
      --emulate                  cuda: run the CUDA C on the CPU (g++; no GPU, nothing timed)
  compile FILE --target wasm [-o FILE.wasm] [--text]   write the module, or print its text form
  compile FILE --target cuda|wgsl [-o FILE]           write (or print) CUDA C with its header, or WGSL
      --resources [--arch sm_80|sm_90a]   CUDA: registers, spills, shared memory, occupancy (needs nvcc)
      --min-blocks N             CUDA: N blocks must fit on one SM (__launch_bounds__; caps registers)
  check FILE                 parse, elaborate and verify every kernel of a file
  gen dequant-gemm --weight T --group G [--act A --scale S --zero U --m M --target wasm|webgpu|cuda]
  gen flash-attention --head-dim D [--causal] [--target T]   gen decode-attention --head-dim D --cache T
                             print a generated kernel (.tile source)
  build lib.json --out DIR [--targets wasm] [--workers N] [--tune[=TARGETS]]
                             compile a library of kernels: artifacts, manifest.json, index.js + index.d.ts
  quantize W.npy --type T --group G --w W.npy --s S.npy [--scale f16] [--zero U --z Z.npy]
                             f32 weights to codes, scales (and zero points), with error statistics
  dtype NAME                 list every code of a type of 8 bits or fewer with its value
  dtype NAME --encode X ...  print the code of each value
  dtype NAME --info          print the type's width, range, and specials
  version                    print the version and whether the compiled build (dist/) or the sources run
  help                       print this text`;

/** The CLI runs either compiled (dist/src/cli/main.js, three folders below the package) or from its sources. */
const COMPILED = import.meta.url.endsWith('.js');

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL(COMPILED ? '../../../package.json' : '../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `tilebit ${pkg.version} (${COMPILED ? 'compiled: dist/' : 'from the TypeScript sources'})`;
}

interface Command {
  readonly valued: ReadonlySet<string>;
  readonly run: (args: ReturnType<typeof parseArgs>, print: (line: string) => void) => number | Promise<number>;
}

const commands: Record<string, Command> = {
  dtype: { valued: new Set(), run: dtypeCommand },
  run: { valued: new Set(['target', 'set', 'seed', 'kernel', 'input', 'output', 'dump-ir', 'workers']), run: runCommand },
  compile: { valued: new Set(['target', 'set', 'kernel', 'o', 'output', 'dump-ir', 'arch', 'min-blocks']), run: compileCommand },
  check: { valued: new Set(['set']), run: checkCommand },
  gen: { valued: new Set(['weight', 'group', 'act', 'scale', 'zero', 'm', 'bm', 'bn', 'bk', 'stages', 'threads', 'split-k', 'name', 'head-dim', 'dtype', 'cache', 'scales', 'bq', 'bkv', 'split-kv', 'k', 'n', 'tune-cache', 'target', 'weight-order', 'apply-scales', 'rows-per-thread', 'weight-operand']), run: genCommand },
  build: { valued: new Set(['out', 'targets', 'workers', 'wgsl-subgroups', 'tune-cache']), run: buildCommand },
  quantize: { valued: new Set(['type', 'group', 'scale', 'zero', 'w', 's', 'z', 'order', 'panel']), run: quantizeCommand },
};

/** Runs the CLI; returns the exit status. Errors a user can fix print one line, never a stack. */
export async function main(argv: readonly string[], print = (l: string) => console.log(l), printError = (l: string) => console.error(l)): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === 'help' || verb === '--help' || verb === '-h') {
    print(USAGE);
    return verb ? 0 : 2;
  }
  if (verb === 'version' || verb === '--version') {
    print(version());
    return 0;
  }
  const command = commands[verb];
  if (!command) {
    printError(`tilebit: unknown command '${verb}'\n${USAGE}`);
    return 2;
  }
  try {
    return await command.run(parseArgs(rest, command.valued), print);
  } catch (e) {
    if (e instanceof UsageError) {
      printError(`tilebit ${verb}: ${e.message}`);
      return 2;
    }
    if (e instanceof DiagnosticError) {
      printError(e.message);
      return 1;
    }
    if (e instanceof Error && USER_ERRORS.some((c) => e instanceof c)) {
      printError(`tilebit ${verb}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
