# The GPU benchmark's run (see bench/gpu_bundle.ts): tilebit's kernels through the CUDA harness, and in the
# same run on the same card: the copy bandwidth, cuBLAS f16 (torch.matmul), PyTorch's int4 kernel
# (torch._weight_int4pack_mm, where this PyTorch has it), a plain Triton W4A16 kernel (where Triton is
# installed) and scaled_dot_product_attention. Prints one table: times in ms (CUDA events, mean of 50
# launches, each after the L2 cache was overwritten, as the harness's `flush` does), bandwidth of weight
# bytes and its share of the copy bandwidth (bytes read + written per second), TFLOP/s, and tilebit's
# ratio to each peer (above 1: tilebit is faster); and, where Node.js and the webgpu package are present
# (../shared/gpu/pack-webgpu.sh), the same kernels' WGSL timed through Dawn by webgpu_bench.mjs
# (WGSL_TIMEOUT seconds at most, default 300). BENCH_ONLY=REGEX: only the entries whose names it finds,
# and the main kernels of their shapes (whose peers their rows are compared with), for a short GPU session.
import os
import json
import re
import time
import subprocess
import sys
import threading

import torch

spec = json.load(open("bench.json"))
dev = torch.device("cuda")


scratch = torch.empty(256 << 20, dtype=torch.uint8, device=dev)  # several times the L2


def timed(fn, reps=50, flush=True):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for i, (start, stop) in enumerate(events):
        if flush:
            scratch.fill_(i & 0xFF)
        start.record()
        fn()
        stop.record()
    torch.cuda.synchronize()
    return sum(a.elapsed_time(b) for a, b in events) / reps


def peer(fn):
    try:
        return timed(fn)
    except Exception as e:  # a peer this PyTorch lacks
        print("peer unavailable:", type(e).__name__, str(e).splitlines()[0][:120], file=sys.stderr)
        return None


big = torch.empty(1 << 28, dtype=torch.uint8, device=dev)
copy = torch.empty_like(big)
copy_ms = timed(lambda: copy.copy_(big), flush=False)
copy_gbs = 2 * big.numel() / copy_ms / 1e6  # read + write
print(f"{torch.cuda.get_device_name()}: copy {copy_gbs:.0f} GB/s (read + write)")

try:
    import triton
    import triton.language as tl

    @triton.jit
    def w4a16_kernel(a_ptr, b_ptr, s_ptr, c_ptr, M, N, K, G: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        # C = A . ((W - 8) * S): W as int32 words of eight 4-bit codes along K ([K / 8, N]), S per G rows of K.
        rm = tl.program_id(0) * BM + tl.arange(0, BM)
        rn = tl.program_id(1) * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(0, K, BK):
            kk = k0 + rk
            a = tl.load(a_ptr + rm[:, None] * K + kk[None, :], mask=rm[:, None] < M, other=0.0)
            words = tl.load(b_ptr + (kk // 8)[:, None] * N + rn[None, :])
            codes = (words >> ((kk % 8) * 4)[:, None]) & 0xF
            scale = tl.load(s_ptr + (k0 // G) * N + rn)
            w = ((codes.to(tl.float32) - 8.0) * scale[None, :].to(tl.float32)).to(tl.float16)
            acc += tl.dot(a, w)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc.to(tl.float16), mask=rm[:, None] < M)

    def triton_w4a16(M, K, N):
        a = torch.randn(M, K, dtype=torch.float16, device=dev)
        b = torch.randint(-(2**31), 2**31 - 1, (K // 8, N), dtype=torch.int32, device=dev)
        sc = torch.rand(K // 128, N, dtype=torch.float16, device=dev)
        c = torch.empty(M, N, dtype=torch.float16, device=dev)
        BM = 16 if M <= 16 else 128
        BN, BK = (64, 128) if M <= 16 else (128, 64)
        grid = (triton.cdiv(M, BM), triton.cdiv(N, BN))
        return lambda: w4a16_kernel[grid](a, b, sc, c, M, N, K, 128, BM, BN, BK)
except Exception as err:  # no Triton here
    print("Triton unavailable:", str(err).splitlines()[0][:120] if str(err) else type(err).__name__, file=sys.stderr)
    triton_w4a16 = None

# The main kernels: a name with nothing after its shape. Every other entry is a variant of one of them
# (tiles, stages, split-K, weight order, ...): same shape, so the peers are timed once, for the main one.
MAIN = re.compile(r"(gemm_\w+?_m\d+_n\d+|attention_s\d+_d\d+|decode_\w+?_s\d+_d\d+(_split\d+_(partial|combine))?)")

only = os.environ.get("BENCH_ONLY")
if only:
    kept = [e for e in spec["entries"] if re.search(only, e["name"])]
    mains = {MAIN.match(e["name"]).group(0) for e in kept if MAIN.match(e["name"])}
    spec["entries"] = [e for e in spec["entries"] if e in kept or e["name"] in mains]
    print("BENCH_ONLY:", len(spec["entries"]), "entries", flush=True)

rows = []
for e in spec["entries"]:
    run = subprocess.run(["./harness", e["name"] + ".launch"], capture_output=True, text=True)
    ms = float(run.stdout.split()[-1]) if run.returncode == 0 else None
    if ms is None:
        print(e["name"], "failed:", (run.stdout + run.stderr).strip()[-200:], file=sys.stderr)
    peers = {}
    s = e["shape"]
    if not MAIN.fullmatch(e["name"]) or e.get("sequence"):
        pass  # a variant of an entry before it, whose peers are already timed (a sequence's row takes them)
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
            if triton_w4a16:
                try:
                    peers["Triton W4A16"] = peer(triton_w4a16(M, K, N))
                except Exception as err:
                    print("Triton W4A16 failed:", str(err).splitlines()[0][:160], file=sys.stderr)
                    peers["Triton W4A16"] = None
    elif e["kind"] == "decode":
        # One query per head over the cache, f16 (the KV heads repeated for the query heads).
        H, S = s["H"], s["S"]
        q1 = torch.randn(1, H, 1, 64, dtype=torch.float16, device=dev)
        kv = torch.randn(1, H, S, 64, dtype=torch.float16, device=dev)
        if "_u4_" in e["name"]:  # the f16 row's peer is the same
            peers["SDPA f16"] = peer(lambda: torch.nn.functional.scaled_dot_product_attention(q1, kv, kv))
    else:
        H, S = s["H"], s["S"]
        q = torch.randn(1, H, S, 64, dtype=torch.float16, device=dev)
        peers["SDPA"] = peer(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True))
    gbs = e["bytes"] / ms / 1e6 if ms else None
    rows.append((e["name"], ms, gbs, e["flops"] / ms / 1e9 if ms else None, peers))
    print(e["name"], ms, {p: t for p, t in peers.items()}, flush=True)

# The same kernels as WGSL through Dawn (webgpu_bench.mjs), where Node.js and the webgpu package are here.
# Its `ROW` lines are read and printed as each kernel is timed, so a run cut short (WGSL_TIMEOUT, or a
# time limit on this whole script) keeps what it measured in the log.
wgsl = {}


def run_wgsl(extra, names, timeout):
    """Runs webgpu_bench.mjs on `names`; returns its output, and whether it was stopped at `timeout` seconds."""
    p = subprocess.Popen(["node", "webgpu_bench.mjs", "--json", *extra, *names], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    out = []
    for l in p.stdout:
        out.append(l)
        if l.startswith("ROW "):
            r = json.loads(l[4:])
            wgsl[(r["name"], r["variant"])] = r["ms"]
            print("WGSL", r["name"], r["variant"], r["ms"], flush=True)
            if r.get("error"):
                print("WGSL", r["name"], r["variant"], "failed:", r["error"][:200], file=sys.stderr)
    p.wait()
    stopped = not timer.is_alive() and p.returncode != 0
    timer.cancel()
    return "".join(out), stopped


limit = float(os.environ.get("WGSL_TIMEOUT", 300))
try:
    # The generator's GPU tiles only (the CPU tiles are there for the CUDA C comparison): every variant
    # of the main kernels (no suffix after the shape), then only the variants a GPU adapter runs
    # (unrolled, subgroups) of the tuning variants, in the time that is left.
    names = [e["name"] for e in spec["entries"] if e["wgsl"] and not e["name"].endswith("_cputiles")]
    main_names = [n for n in names if MAIN.fullmatch(n)]
    start = time.monotonic()
    out, stopped = run_wgsl([], main_names, limit)
    rest = [n for n in names if n not in main_names]
    if rest and not stopped:
        out2, stopped = run_wgsl(["--variants", "unrolled,subgroups"], rest, max(1.0, limit - (time.monotonic() - start)))
        out += out2
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line:
        print("WebGPU:", json.loads(line[7:])["adapter"])
    if stopped:
        print("WGSL timing cut short after", limit, "s;", len(wgsl), "rows kept", file=sys.stderr)
    elif not line:
        print("WGSL timing failed:", out.strip()[-300:], file=sys.stderr)
except OSError as err:
    print("WGSL timing skipped:", err, file=sys.stderr)

# The u4 kernels' unrolled WGSL again without Dawn's bounds checks (--no-robustness): how much of the gap
# to CUDA C they cost.
try:
    names = [e["name"] for e in spec["entries"] if e["wgsl"] and "_u4_" in e["name"] and not e["name"].endswith("_cputiles")] + [e["name"] for e in spec["entries"] if e["wgsl"] and e["kind"] != "gemm"]
    if run_wgsl(["--no-robustness", "--variants", "unrolled"], names, limit / 2)[1]:
        print("WGSL timing without robustness cut short after", limit / 2, "s", file=sys.stderr)
except OSError as err:
    print("WGSL timing without robustness skipped:", str(err)[:200], file=sys.stderr)

# Kernel sequences (split decode: a partial kernel, then a combining one): one more row each, the sum of
# its kernels' times (CUDA C and each WGSL variant where every kernel has one), with the unsplit kernel's
# peers.
for seq in dict.fromkeys(e["sequence"] for e in spec["entries"] if e.get("sequence")):
    parts = [e for e in spec["entries"] if e.get("sequence") == seq]
    times = [next(r[1] for r in rows if r[0] == e["name"]) for e in parts]
    ms = sum(times) if all(times) else None
    nbytes, flops = sum(e["bytes"] for e in parts), sum(e["flops"] for e in parts)
    unsplit = next((r for r in rows if r[0] == seq.rsplit("_split", 1)[0]), None)
    last = max(i for i, r in enumerate(rows) if r[0] in {e["name"] for e in parts})
    rows.insert(last + 1, (seq + " (sum)", ms, nbytes / ms / 1e6 if ms else None, flops / ms / 1e9 if ms else None, unsplit[4] if unsplit else {}))
    for v in ("plain", "unrolled", "subgroups", "unrolled-nr"):
        ts = [wgsl.get((e["name"], v)) for e in parts]
        if all(ts):
            wgsl[(seq + " (sum)", v)] = sum(ts)

head = f"{'kernel':34} {'CUDA C ms':>10} {'GB/s':>7} {'% copy':>7} {'TFLOP/s':>8} {'WGSL ms':>9} {'unrolled':>9} {'subgroups':>9} {'unrl. nr':>9}  peers (ms, CUDA C speed-up)"
print(head)
for name, ms, gbs, tflops, peers in rows:
    cells = "  ".join(f"{p} {t:.4f} ({t / ms:.2f}x)" if t and ms else f"{p} n/a" for p, t in peers.items())
    msx = f"{ms:10.4f}" if ms else f"{'failed':>10}"
    g = f"{gbs:7.0f} {100 * gbs / copy_gbs:6.1f}% {tflops:8.1f}" if gbs else f"{'':7} {'':7} {'':8}"
    w = "".join(f" {wgsl[(name, v)]:9.4f}" if wgsl.get((name, v)) else f" {'n/a':>9}" for v in ("plain", "unrolled", "subgroups", "unrolled-nr"))
    print(f"{name:34} {msx} {g}{w}  {cells}")
