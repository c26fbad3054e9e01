# The GPU benchmark's run (see bench/gpu_bundle.ts): tilebit's kernels through the CUDA harness, and in the
# same run on the same card: the copy bandwidth, cuBLAS f16 (torch.matmul), PyTorch's int4 kernel
# (torch._weight_int4pack_mm, where this PyTorch has it) and scaled_dot_product_attention. Prints one
# table: times in ms (CUDA events, mean of 50 launches after warm-up), bandwidth of weight bytes, and
# tilebit's ratio to each peer (above 1: tilebit is faster); and, where Node.js and the webgpu package are
# present (../shared/gpu/pack-webgpu.sh), the same kernels' WGSL timed through Dawn by webgpu_bench.mjs.
import json
import subprocess
import sys

import torch

spec = json.load(open("bench.json"))
dev = torch.device("cuda")


def timed(fn, reps=50):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / reps


def peer(fn):
    try:
        return timed(fn)
    except Exception as e:  # a peer this PyTorch lacks
        print("peer unavailable:", type(e).__name__, str(e).splitlines()[0][:120], file=sys.stderr)
        return None


big = torch.empty(1 << 28, dtype=torch.uint8, device=dev)
copy = torch.empty_like(big)
copy_ms = timed(lambda: copy.copy_(big))
copy_gbs = 2 * big.numel() / copy_ms / 1e6  # read + write
print(f"{torch.cuda.get_device_name()}: copy {copy_gbs:.0f} GB/s (read + write)")

rows = []
for e in spec["entries"]:
    run = subprocess.run(["./harness", e["name"] + ".launch"], capture_output=True, text=True)
    ms = float(run.stdout.split()[-1]) if run.returncode == 0 else None
    if ms is None:
        print(e["name"], "failed:", (run.stdout + run.stderr).strip()[-200:], file=sys.stderr)
    peers = {}
    s = e["shape"]
    if e["name"].endswith("_cputiles"):
        pass  # the same shape as the entry before it, whose peers are already timed
    elif e["kind"] == "gemm":
        M, K, N = s["M"], s["K"], s["N"]
        a = torch.randn(M, K, dtype=torch.float16, device=dev)
        b = torch.randn(K, N, dtype=torch.float16, device=dev)
        peers["cuBLAS f16"] = peer(lambda: torch.matmul(a, b))
        if "_u4_" in e["name"]:
            def int4():
                w = torch.randint(0, 16, (N, K), dtype=torch.int32, device=dev)
                packed = torch._convert_weight_to_int4pack((w[:, ::2] << 4 | w[:, 1::2]).to(torch.uint8), 8)
                sz = torch.ones(K // 128, N, 2, dtype=torch.bfloat16, device=dev)
                x = a.to(torch.bfloat16)
                return lambda: torch._weight_int4pack_mm(x, packed, 128, sz)
            try:
                peers["torch int4"] = peer(int4())
            except Exception as err:
                print("torch int4 unavailable:", str(err).splitlines()[0][:120], file=sys.stderr)
                peers["torch int4"] = None
    else:
        H, S = s["H"], s["S"]
        q = torch.randn(1, H, S, 64, dtype=torch.float16, device=dev)
        peers["SDPA"] = peer(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True))
    gbs = e["bytes"] / ms / 1e6 if ms else None
    rows.append((e["name"], ms, gbs, peers))

# The same kernels as WGSL through Dawn (webgpu_bench.mjs), where Node.js and the webgpu package are here.
wgsl = {}
try:
    run = subprocess.run(["node", "webgpu_bench.mjs", "--json"], capture_output=True, text=True, timeout=1800)
    line = next((l for l in run.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line:
        result = json.loads(line[7:])
        print("WebGPU:", result["adapter"])
        for r in result["rows"]:
            wgsl[(r["name"], r["variant"])] = r["ms"]
    else:
        print("WGSL timing failed:", (run.stdout + run.stderr).strip()[-300:], file=sys.stderr)
except (OSError, subprocess.TimeoutExpired) as err:
    print("WGSL timing skipped:", err, file=sys.stderr)

head = f"{'kernel':34} {'CUDA C ms':>10} {'GB/s':>7} {'% copy':>7} {'WGSL ms':>9} {'unrolled':>9}  peers (ms, CUDA C speed-up)"
print(head)
for name, ms, gbs, peers in rows:
    cells = "  ".join(f"{p} {t:.4f} ({t / ms:.2f}x)" if t and ms else f"{p} n/a" for p, t in peers.items())
    msx = f"{ms:10.4f}" if ms else f"{'failed':>10}"
    g = f"{gbs:7.0f} {100 * gbs / (copy_gbs / 2):6.1f}%" if gbs else f"{'':7} {'':7}"
    w = "".join(f" {wgsl[(name, v)]:9.4f}" if wgsl.get((name, v)) else f" {'n/a':>9}" for v in ("plain", "unrolled"))
    print(f"{name:34} {msx} {g}{w}  {cells}")
