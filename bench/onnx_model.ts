// Minimal ONNX model writer (protobuf by hand) for the benchmark peers: one MatMul or one
// com.microsoft MatMulNBits node with its weights as initializers.

class Pb {
  private readonly parts: number[] = [];
  private varint(v: number | bigint): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n;
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.parts.push(b);
    } while (x);
  }
  int(field: number, v: number): this {
    this.varint((field << 3) | 0);
    this.varint(v);
    return this;
  }
  bytes(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (const b of data) this.parts.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.done());
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const FLOAT = 1;
const UINT8 = 2;

function valueInfo(name: string, elem: number, shape: number[]): Pb {
  const dims = new Pb();
  for (const d of shape) dims.msg(1, new Pb().int(1, d));
  return new Pb().str(1, name).msg(2, new Pb().msg(1, new Pb().int(1, elem).msg(2, dims)));
}

function initializer(name: string, elem: number, shape: number[], raw: Uint8Array): Pb {
  const t = new Pb();
  for (const d of shape) t.int(1, d);
  return t.int(2, elem).str(8, name).bytes(9, raw);
}

function model(node: Pb, inits: Pb[], inputs: Pb[], outputs: Pb[]): Uint8Array {
  const g = new Pb().msg(1, node).str(2, 'g');
  for (const i of inits) g.msg(5, i);
  for (const i of inputs) g.msg(11, i);
  for (const o of outputs) g.msg(12, o);
  return new Pb().int(1, 8).str(2, 'tilebit-bench').msg(7, g).msg(8, new Pb().str(1, '').int(2, 17)).msg(8, new Pb().str(1, 'com.microsoft').int(2, 1)).done();
}

const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Y[M, N] = A[M, K] . B[K, N] in f32. */
export function matmulModel(M: number, K: number, N: number, b: Float32Array): Uint8Array {
  const node = new Pb().str(1, 'A').str(1, 'B').str(2, 'Y').str(3, 'mm').str(4, 'MatMul');
  return model(node, [initializer('B', FLOAT, [K, N], f32Bytes(b))], [valueInfo('A', FLOAT, [M, K])], [valueInfo('Y', FLOAT, [M, N])]);
}

/**
 * MatMulNBits: B holds N rows of K/blockSize blocks of packed `bits`-bit codes (low bits first), one
 * f32 scale per block, zero point 2^(bits-1) (the default).
 */
export function matmulNBitsModel(M: number, K: number, N: number, bits: number, blockSize: number, packed: Uint8Array, scales: Float32Array, accuracyLevel = 0): Uint8Array {
  const attr = (name: string, v: number): Pb => new Pb().str(1, name).int(3, v).int(20, 2);
  const node = new Pb().str(1, 'A').str(1, 'B').str(1, 'scales').str(2, 'Y').str(3, 'mmnb').str(4, 'MatMulNBits').str(7, 'com.microsoft');
  node.msg(5, attr('K', K)).msg(5, attr('N', N)).msg(5, attr('bits', bits)).msg(5, attr('block_size', blockSize)).msg(5, attr('accuracy_level', accuracyLevel));
  const blocks = K / blockSize;
  return model(
    node,
    [initializer('B', UINT8, [N, blocks, (blockSize * bits) / 8], packed), initializer('scales', FLOAT, [N * blocks], f32Bytes(scales))],
    [valueInfo('A', FLOAT, [M, K])],
    [valueInfo('Y', FLOAT, [M, N])],
  );
}

export interface GraphNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly ints?: Readonly<Record<string, number>>;
  readonly intLists?: Readonly<Record<string, readonly number[]>>;
  readonly domain?: string;
}

/** A graph of several nodes; f32 inputs and outputs with their shapes, f32 initializers. */
export function graphModel(
  nodes: readonly GraphNode[], inits: readonly { name: string; shape: number[]; data: Float32Array }[],
  inputs: readonly { name: string; shape: number[] }[], outputs: readonly { name: string; shape: number[] }[],
): Uint8Array {
  const g = new Pb();
  nodes.forEach((n, i) => {
    const node = new Pb();
    for (const x of n.inputs) node.str(1, x);
    for (const y of n.outputs) node.str(2, y);
    node.str(3, `n${i}`).str(4, n.op);
    for (const [name, v] of Object.entries(n.ints ?? {})) node.msg(5, new Pb().str(1, name).int(3, v).int(20, 2));
    for (const [name, vs] of Object.entries(n.intLists ?? {})) {
      const a = new Pb().str(1, name);
      for (const v of vs) a.int(8, v);
      node.msg(5, a.int(20, 7));
    }
    if (n.domain) node.str(7, n.domain);
    g.msg(1, node);
  });
  g.str(2, 'g');
  for (const i of inits) g.msg(5, initializer(i.name, FLOAT, i.shape, f32Bytes(i.data)));
  for (const i of inputs) g.msg(11, valueInfo(i.name, FLOAT, i.shape));
  for (const o of outputs) g.msg(12, valueInfo(o.name, FLOAT, o.shape));
  return new Pb().int(1, 8).str(2, 'tilebit-bench').msg(7, g).msg(8, new Pb().str(1, '').int(2, 17)).done();
}
