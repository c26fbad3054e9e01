// CUDA C on the CPU: what tilebit's generated kernels (backends/cuda/emit.ts) and host harness
// (backends/cuda/harness.ts) need from CUDA, for running them on a machine without a GPU. Compile the
// same `.cu` files with a C++17 compiler:
//
//   g++ -std=c++17 -O1 -ffp-contract=off -DTILEBIT_HOST -I backends/cuda/host -x c++ harness.cu kernels.cu
//
// Execution model. A launch runs its blocks one after another. Each thread of a block is a fiber on one
// OS thread (its own stack, entered once through ucontext, then switched by _setjmp/_longjmp), run until
// it reaches a barrier, a warp-wide instruction or its end; so a block's threads interleave only at those
// points, which is a legal schedule of the real machine, and each thread's locals (its registers) live on
// its own stack. Threads run in index order, from the last to the first (TILEBIT_HOST_ORDER=reverse),
// or in an order drawn anew between barriers (TILEBIT_HOST_ORDER=random:SEED): a kernel that misses a
// barrier reads another thread's data before it is written in some order. `__syncthreads()` waits for
// every thread of the block that has not returned; a warp-wide instruction (shuffle, ldmatrix, mma)
// waits for every lane of its warp. Threads that wait at different barriers forever, or a warp
// instruction some lanes never reach, stop the launch with a message (exit status 4): on a GPU that is
// undefined behaviour. Shared memory starts as TILEBIT_HOST_POISON (a byte, default 0xff) in each block.
//
// TILEBIT_HOST_PROFILE (=widths for more detail) prints, after each launch, its shared-memory requests
// and the wavefronts they take on 32 banks of 4 bytes, and its global-memory requests and the 32-byte
// sectors they touch, each beside the fewest possible: a model of the memory system, not a timing.
//
// What the instructions do, from the PTX ISA:
// - mma.sync.m16n8k16 (f16 or bf16 in, f32 accumulators): lane l = 4 g + t holds A's rows g and g + 8,
//   columns 2t, 2t + 1 (a0, a1) and 2t + 8, 2t + 9 (a2, a3); B's rows 2t, 2t + 1 (b0) and 2t + 8, 2t + 9
//   (b1) of column g; C's rows g (c0, c1) and g + 8 (c2, c3), columns 2t and 2t + 1. Each output is
//   the accumulator plus the 16 products, summed exactly and rounded once to f32 (the hardware's order
//   and rounding inside the sum are unspecified: tests compare within a tolerance).
// - ldmatrix.m8n8.x{1,2,4}[.trans]: lane l gives the address of row l % 8 of matrix l / 8; lane l
//   receives, of each matrix, elements 2 (l % 4) and 2 (l % 4) + 1 of row l / 4 (transposed: rows
//   2 (l % 4) and 2 (l % 4) + 1 of column l / 4).
// - cp.async: a copy reads its source when issued and lands in shared memory when a wait_group
//   that covers its group returns, not before (TILEBIT_HOST_ASYNC=immediate lands it at once): a kernel
//   that reads a stage before waiting for it reads stale data here, as it may on a GPU.
// - f16 and bf16 arithmetic rounds once to nearest even, subnormals kept; f32 arithmetic is IEEE
//   single precision without contraction (hence -ffp-contract=off), as the `__f*_rn` intrinsics are.
//   expf, logf and the like come from the C library, whose results may differ from CUDA's in the
//   last places.
#ifndef TILEBIT_HOST_H
#define TILEBIT_HOST_H

#include <setjmp.h>
#include <ucontext.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __constant__
// The block's shared memory, one buffer for its threads (blocks run one at a time), filled with
// TILEBIT_HOST_POISON (a byte, default 0xff: NaN in f16 and f32, -1 in integers) before each block, as
// a GPU leaves it unset: a kernel that reads what it has not written reads that.
#define TB_SHARED(name, bytes) unsigned char* name = tb_host::blockShared(bytes)
// A T at byte pointer p: shared-memory accesses are recorded where TILEBIT_HOST_PROFILE is set.
#define TB_REF(T, p) (*tb_host::touch<T>(p))
#define TB_DYNAMIC_SHARED(name) unsigned char* name = tb_host::blockShared(0)

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};
struct uint3 { unsigned x, y, z; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

namespace tb_host {

[[noreturn]] inline void fail(const char* what) {
  fprintf(stderr, "tilebit host: %s\n", what);
  exit(4);
}

enum class State { Running, AtBarrier, AtWarp, Done };

struct Copy { unsigned char* to; unsigned char bytes[16]; int n; long group; };

// A memory access by one thread: address (a byte offset in shared memory), bytes.
struct Access { uint64_t at; uint32_t bytes; };

struct Fiber {
  ucontext_t context;  // the first entry, on the fiber's own stack
  jmp_buf resume;      // where it stopped since (_setjmp and _longjmp keep the signal mask: no system call)
  bool started = false;
  std::unique_ptr<char[]> stack;
  State state = State::Done;
  std::vector<Copy> copies;  // issued, not landed
  long committed = 0;        // groups closed by commit_group
  std::vector<Access> accesses;  // shared-memory accesses since the warp last stopped together
  std::vector<Access> global;    // and global-memory ones
};

constexpr size_t kStack = 512 * 1024;

struct Block {
  void (*body)(void**) = nullptr;
  void** args = nullptr;
  uint3 index{0, 0, 0};
  unsigned threads = 0;
  unsigned current = 0;
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  jmp_buf back;  // the scheduler, where a fiber that stops returns
  // Warp exchange: per lane, the words a warp-wide instruction deposits.
  std::vector<uint64_t> slots;
  std::vector<unsigned char> shared;
  size_t dynamicBytes = 0;
  bool sharedReady = false;  // this block's shared memory is sized and poisoned
  unsigned char poison = 0xff;
  bool immediateCopies = false;
  bool reverse = false;  // run the threads from the last to the first
  uint64_t shuffle = 0;  // nonzero: run them in an order drawn anew each round, from this seed
  std::vector<unsigned> order;
  // TILEBIT_HOST_PROFILE: shared-memory requests of the launch (a warp's k-th accesses between two
  // points where all its lanes stop), the wavefronts they take, and the fewest they could take.
  bool profile = false;
  uint64_t requests = 0, wavefronts = 0, ideal = 0;
  // Global memory: requests, the 32-byte sectors they touch, and the fewest that hold their bytes.
  uint64_t globalRequests = 0, sectors = 0, fewestSectors = 0;
  // The launch's buffers (cudaMalloc), whose accesses count as global memory.
  std::vector<std::pair<const unsigned char*, size_t>> buffers;
  // The same by the width of the accesses (1, 2, 4, 8 or 16 bytes), for TILEBIT_HOST_PROFILE=widths.
  uint64_t byWidth[17][3] = {};
  bool widths = false;
};

inline Block& block() {
  static Block b;
  return b;
}

// Every thread asks at its start, for the same size (0: the launch's dynamic size).
inline unsigned char* blockShared(size_t bytes) {
  Block& b = block();
  if (!b.sharedReady) {
    b.shared.assign(bytes ? bytes : b.dynamicBytes, b.poison);
    b.sharedReady = true;
  }
  return b.shared.data();
}

// Records an access of `bytes` at p by the running thread, where p is in the block's shared memory.
inline void record(const void* p, size_t bytes) {
  Block& b = block();
  if (!b.profile) return;
  const unsigned char* q = static_cast<const unsigned char*>(p);
  if (!b.shared.empty() && q >= b.shared.data() && q < b.shared.data() + b.shared.size()) {
    b.fibers[b.current].accesses.push_back({uint64_t(q - b.shared.data()), uint32_t(bytes)});
    return;
  }
  for (const auto& buffer : b.buffers) {
    if (q >= buffer.first && q < buffer.first + buffer.second) {
      b.fibers[b.current].global.push_back({uint64_t(reinterpret_cast<uintptr_t>(q)), uint32_t(bytes)});
      return;
    }
  }
}

template <class T>
inline T* touch(const void* p) {
  record(p, sizeof(T));
  return static_cast<T*>(const_cast<void*>(p));
}

// One request: the k-th access of each lane of a warp that made one. Shared memory has 32 banks of 4
// bytes; a request of w-byte accesses is served in phases of 128 / w lanes (1 for 4 bytes or fewer), and
// a phase takes as many wavefronts as the most distinct words it reads from one bank (lanes reading one
// word share it).
inline void request(const std::vector<Access>& lanes) {
  Block& b = block();
  uint32_t width = 1;
  for (const Access& a : lanes) width = std::max(width, a.bytes);
  size_t perPhase = width <= 4 ? 32 : 128 / width, bytes = 0;
  uint64_t waves = 0;
  for (size_t from = 0; from < lanes.size(); from += perPhase) {
    std::vector<std::vector<uint32_t>> words(32);
    for (size_t i = from; i < std::min(lanes.size(), from + perPhase); i++) {
      for (uint32_t w = lanes[i].at / 4; w <= (lanes[i].at + lanes[i].bytes - 1) / 4; w++) {
        std::vector<uint32_t>& bank = words[w % 32];
        if (std::find(bank.begin(), bank.end(), w) == bank.end()) bank.push_back(w);
      }
      bytes += lanes[i].bytes;
    }
    size_t most = 1;
    for (const auto& bank : words) most = std::max(most, bank.size());
    waves += most;
  }
  uint64_t fewest = std::max<uint64_t>(1, (bytes + 127) / 128);
  b.requests++;
  b.wavefronts += waves;
  b.ideal += fewest;
  uint64_t* w = b.byWidth[std::min<uint32_t>(width, 16)];
  w[0]++;
  w[1] += waves;
  w[2] += fewest;
}

// One global-memory request: the 32-byte sectors its lanes' bytes fall in, against the fewest sectors
// that could hold those (distinct) bytes.
inline void globalRequest(const std::vector<Access>& lanes) {
  Block& b = block();
  std::vector<uint64_t> sectors, bytes;
  for (const Access& a : lanes) {
    for (uint64_t x = a.at; x < a.at + a.bytes; x++) {
      if (std::find(bytes.begin(), bytes.end(), x) == bytes.end()) bytes.push_back(x);
      if (std::find(sectors.begin(), sectors.end(), x / 32) == sectors.end()) sectors.push_back(x / 32);
    }
  }
  b.globalRequests++;
  b.sectors += sectors.size();
  b.fewestSectors += (bytes.size() + 31) / 32;
}

// Every lane of every warp has stopped: their accesses since the last stop, paired by order, are requests.
inline void settleAccesses() {
  Block& b = block();
  if (!b.profile) return;
  for (unsigned w = 0; w < b.threads; w += 32) {
    unsigned n = std::min(32u, b.threads - w);
    for (bool global : {false, true}) {
      auto list = [&](unsigned l) -> std::vector<Access>& { return global ? b.fibers[w + l].global : b.fibers[w + l].accesses; };
      size_t longest = 0;
      for (unsigned l = 0; l < n; l++) longest = std::max(longest, list(l).size());
      for (size_t k = 0; k < longest; k++) {
        std::vector<Access> lanes;
        for (unsigned l = 0; l < n; l++) {
          if (k < list(l).size()) lanes.push_back(list(l)[k]);
        }
        if (global) globalRequest(lanes);
        else request(lanes);
      }
      for (unsigned l = 0; l < n; l++) list(l).clear();
    }
  }
}

inline uint3 threadIndex() { return {block().current, 0, 0}; }
inline uint3 blockIndex() { return block().index; }

inline void yield() {
  Block& b = block();
  if (!_setjmp(b.fibers[b.current].resume)) _longjmp(b.back, 1);
}

inline void syncthreads() {
  Block& b = block();
  b.fibers[b.current].state = State::AtBarrier;
  yield();
}

// Lanes of the current thread's warp that exist (a last partial warp has fewer than 32).
inline unsigned warpBase() { return block().current & ~31u; }
inline unsigned laneCount() { return std::min(32u, block().threads - warpBase()); }

inline void warpSync() {
  Block& b = block();
  b.fibers[b.current].state = State::AtWarp;
  yield();
}

constexpr int kSlot = 16;  // words per lane
inline uint64_t* slot(unsigned thread) { return &block().slots[size_t(thread) * kSlot]; }

// A warp-wide instruction: every lane deposits its inputs, then reads any lane's; the second wait keeps
// the slots until every lane has read them.
template <class Deposit, class Read>
inline void warpExchange(Deposit deposit, Read read) {
  deposit(slot(block().current));
  warpSync();
  read();
  warpSync();
}

inline void fiberMain() {
  Block& b = block();
  b.body(b.args);
  b.fibers[b.current].state = State::Done;
  _longjmp(b.back, 1);
}

// Runs one block to its end.
inline void runBlock(Block& b) {
  for (unsigned t = 0; t < b.threads; t++) {
    Fiber& f = b.fibers[t];
    if (!f.stack) f.stack.reset(new char[kStack]);
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStack;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiberMain, 0);
    f.state = State::Running;
    f.started = false;
    f.copies.clear();
    f.committed = 0;
    f.accesses.clear();
    f.global.clear();
  }
  b.sharedReady = false;
  b.order.resize(b.threads);
  for (unsigned t = 0; t < b.threads; t++) b.order[t] = b.reverse ? b.threads - 1 - t : t;
  for (;;) {
    // A random order: a Fisher-Yates shuffle driven by a 64-bit LCG.
    for (unsigned i = b.threads; b.shuffle && i > 1; i--) {
      b.shuffle = b.shuffle * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(b.order[i - 1], b.order[(b.shuffle >> 33) % i]);
    }
    for (unsigned i = 0; i < b.threads; i++) {
      unsigned t = b.order[i];
      if (b.fibers[t].state != State::Running) continue;
      b.current = t;
      Fiber& f = b.fibers[t];
      if (_setjmp(b.back)) continue;  // it stopped
      if (f.started) _longjmp(f.resume, 1);
      f.started = true;
      swapcontext(&b.scheduler, &f.context);
    }
    // Every thread has stopped: release a barrier that every live thread reached, and each warp whose
    // live lanes all reached a warp-wide instruction.
    settleAccesses();
    bool live = false, released = false, allAtBarrier = true;
    for (unsigned t = 0; t < b.threads; t++) {
      State s = b.fibers[t].state;
      if (s != State::Done) live = true;
      if (s != State::Done && s != State::AtBarrier) allAtBarrier = false;
    }
    if (!live) return;
    if (allAtBarrier) {
      for (Fiber& f : b.fibers) if (f.state == State::AtBarrier) f.state = State::Running;
      continue;
    }
    for (unsigned w = 0; w < b.threads; w += 32) {
      unsigned n = std::min(32u, b.threads - w), at = 0, done = 0;
      for (unsigned l = 0; l < n; l++) {
        at += b.fibers[w + l].state == State::AtWarp;
        done += b.fibers[w + l].state == State::Done;
      }
      if (at == n) {
        for (unsigned l = 0; l < n; l++) b.fibers[w + l].state = State::Running;
        released = true;
      } else if (at > 0 && at + done == n) {
        fail("a warp-wide instruction that some lanes of the warp never reach (they returned)");
      }
    }
    if (!released) {
      char what[160];
      snprintf(what, sizeof what, "deadlock in block (%u, %u, %u): threads wait at a barrier that others never reach", b.index.x, b.index.y, b.index.z);
      fail(what);
    }
  }
}

// A launch: every block of the grid, one after another.
inline void launch(void (*body)(void**), dim3 grid, dim3 threads, void** args, size_t dynamicBytes) {
  Block& b = block();
  if (threads.y != 1 || threads.z != 1) fail("blocks of more than one dimension");
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) fail("a grid past CUDA's limits (2^31 - 1 blocks along x, 65535 along y and z)");
  b.body = body;
  b.args = args;
  b.threads = threads.x;
  b.fibers.resize(threads.x);
  b.slots.assign(size_t(threads.x) * kSlot, 0);
  b.dynamicBytes = dynamicBytes;
  const char* poison = getenv("TILEBIT_HOST_POISON");
  b.poison = poison ? (unsigned char)strtoul(poison, nullptr, 0) : 0xff;
  const char* mode = getenv("TILEBIT_HOST_ASYNC");
  b.immediateCopies = mode && strcmp(mode, "immediate") == 0;
  const char* order = getenv("TILEBIT_HOST_ORDER");
  b.reverse = order && strcmp(order, "reverse") == 0;
  b.shuffle = order && strncmp(order, "random:", 7) == 0 ? strtoull(order + 7, nullptr, 10) * 2 + 1 : 0;
  const char* profile = getenv("TILEBIT_HOST_PROFILE");
  b.profile = profile != nullptr;
  b.widths = profile && strcmp(profile, "widths") == 0;
  b.requests = b.wavefronts = b.ideal = 0;
  b.globalRequests = b.sectors = b.fewestSectors = 0;
  memset(b.byWidth, 0, sizeof b.byWidth);
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        b.index = {x, y, z};
        runBlock(b);
      }
  if (b.profile) {
    fprintf(stderr, "shared memory: %llu requests, %llu wavefronts (%.2f per request; %llu at the fewest)\n", (unsigned long long)b.requests,
            (unsigned long long)b.wavefronts, b.requests ? double(b.wavefronts) / double(b.requests) : 0.0, (unsigned long long)b.ideal);
    fprintf(stderr, "global memory: %llu requests, %llu sectors of 32 bytes (%.2f per request; %llu at the fewest)\n", (unsigned long long)b.globalRequests,
            (unsigned long long)b.sectors, b.globalRequests ? double(b.sectors) / double(b.globalRequests) : 0.0, (unsigned long long)b.fewestSectors);
    for (int w = 1; b.widths && w <= 16; w++) {
      if (b.byWidth[w][0]) fprintf(stderr, "  %2d-byte accesses: %llu requests, %llu wavefronts, %llu at the fewest\n", w, (unsigned long long)b.byWidth[w][0], (unsigned long long)b.byWidth[w][1], (unsigned long long)b.byWidth[w][2]);
    }
  }
}

// ---- f16 and bf16 by bits: round to nearest even, subnormals kept.

inline uint32_t bitsOf(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
inline float floatOf(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

inline uint16_t f16FromFloat(float x) {
  uint32_t u = bitsOf(x);
  uint16_t sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >> 13) & 0x3ff);  // NaN, quiet
  if (a >= 0x477ff000) return sign | 0x7c00;                      // rounds to infinity (65520 and up)
  if (a < 0x38800000) {                                            // below 2^-14: an f16 subnormal or 0
    // The value in units of 2^-24, rounded to nearest even.
    float scaled = floatOf(a) * 16777216.0f;                       // exact: a power of two
    float r = nearbyintf(scaled);
    return sign | uint16_t(r);
  }
  uint32_t mant = a & 0x7fffff, exp = (a >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | uint16_t(h);
}

inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {
    float v = float(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return floatOf(sign | 0x7f800000 | (mant << 13));
  return floatOf(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t bf16FromFloat(float x) {
  uint32_t u = bitsOf(x);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);
  uint32_t rest = u & 0xffff, h = u >> 16;
  if (rest > 0x8000 || (rest == 0x8000 && (h & 1))) h++;
  return uint16_t(h);
}

inline float bf16ToFloat(uint16_t h) { return floatOf(uint32_t(h) << 16); }

// prmt.b32 (default mode): byte n is byte s_n & 7 of b:a (a's bytes 0..3, b's 4..7), s_n the selector's
// nibble n, or that byte's top bit replicated where s_n's bit 3 is set. (__byte_perm: bit 3 clear.)
inline uint32_t permuteBytes(uint32_t a, uint32_t b, uint32_t s) {
  uint64_t v = uint64_t(b) << 32 | a;
  uint32_t r = 0;
  for (int n = 0; n < 4; n++) {
    uint32_t sel = (s >> (4 * n)) & 15;
    uint32_t byte = uint32_t(v >> (8 * (sel & 7))) & 0xff;
    if (sel & 8) byte = byte & 0x80 ? 0xff : 0;
    r |= byte << (8 * n);
  }
  return r;
}

}  // namespace tb_host

#define threadIdx (tb_host::threadIndex())
#define blockIdx (tb_host::blockIndex())

inline void __syncthreads() { tb_host::syncthreads(); }

// ---- f32 and integer intrinsics.

inline float __int_as_float(int x) { return tb_host::floatOf(uint32_t(x)); }
inline int __float_as_int(float x) { return int(tb_host::bitsOf(x)); }
inline float __uint_as_float(unsigned x) { return tb_host::floatOf(x); }
inline unsigned __float_as_uint(float x) { return tb_host::bitsOf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __int2float_rn(int a) { return float(a); }
inline float __uint2float_rn(unsigned a) { return float(a); }
// cvt.rzi: toward zero, saturating, NaN to 0.
inline int __float2int_rz(float a) {
  if (a != a) return 0;
  if (a >= 2147483648.0f) return 2147483647;
  if (a <= -2147483648.0f) return -2147483647 - 1;
  return int(a);
}
inline unsigned __float2uint_rz(float a) {
  if (!(a > 0)) return 0;
  if (a >= 4294967296.0f) return 4294967295u;
  return unsigned(a);
}
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += int(int8_t(a >> (8 * i))) * int(int8_t(b >> (8 * i)));
  return c;
}
inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
  for (int i = 0; i < 4; i++) c += ((a >> (8 * i)) & 0xff) * ((b >> (8 * i)) & 0xff);
  return c;
}
// Byte n of the result: byte (s >> 4n) & 7 of the eight of y:x (x's bytes 0..3, y's 4..7).
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) { return tb_host::permuteBytes(x, y, s & 0x7777); }

// Atomics: fibers switch only at barriers and warp instructions, so a plain read-modify-write is atomic.
inline int atomicCAS(int* p, int compare, int value) { int old = *p; if (old == compare) *p = value; return old; }
inline unsigned atomicCAS(unsigned* p, unsigned compare, unsigned value) { unsigned old = *p; if (old == compare) *p = value; return old; }
inline unsigned atomicAnd(unsigned* p, unsigned v) { unsigned old = *p; *p = old & v; return old; }
inline unsigned atomicOr(unsigned* p, unsigned v) { unsigned old = *p; *p = old | v; return old; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { unsigned old = *p; *p = old + v; return old; }

template <class T>
inline T __shfl_xor_sync(unsigned, T value, int laneMask) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  T result;
  tb_host::warpExchange(
    [&](uint64_t* s) { uint32_t u; memcpy(&u, &value, 4); s[0] = u; },
    [&]() {
      unsigned lane = tb_host::block().current & 31u, from = (lane ^ unsigned(laneMask)) & 31u;
      if (from >= tb_host::laneCount()) tb_host::fail("a shuffle from a lane the block does not have");
      uint32_t u = uint32_t(tb_host::slot(tb_host::warpBase() + from)[0]);
      memcpy(&result, &u, 4);
    });
  return result;
}

// ---- f16 and bf16 types and the conversions the kernels use.

struct __half { unsigned short x; };
struct __half2 { __half x, y; };
struct __nv_bfloat16 { unsigned short x; };
inline __half __float2half_rn(float a) { return {tb_host::f16FromFloat(a)}; }
inline float __half2float(__half h) { return tb_host::f16ToFloat(h.x); }
inline __half __ushort_as_half(unsigned short x) { return {x}; }
inline unsigned short __half_as_ushort(__half h) { return h.x; }
inline __half2 __floats2half2_rn(float lo, float hi) { return {__float2half_rn(lo), __float2half_rn(hi)}; }
// An f16 operation computed in f32 and rounded once to f16 is the correctly rounded f16 operation
// (f32 carries more than 2 x 11 + 2 bits), and likewise for bf16.
inline __half2 __hsub2(__half2 a, __half2 b) {
  return {__float2half_rn(__half2float(a.x) - __half2float(b.x)), __float2half_rn(__half2float(a.y) - __half2float(b.y))};
}
// a * b + c, computed exactly in double (f16 operands), then rounded to f32 and to f16: the correctly
// rounded f16 wherever the first rounding is exact, as in the generated code's uses (codes times a power
// of two, less a constant), whose results are f16 values.
inline __half __hfma(__half a, __half b, __half c) {
  return __float2half_rn(float(double(__half2float(a)) * double(__half2float(b)) + double(__half2float(c))));
}
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) { return {__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)}; }
inline __nv_bfloat16 __float2bfloat16_rn(float a) { return {tb_host::bf16FromFloat(a)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return tb_host::bf16ToFloat(h.x); }

// ---- The PTX helpers of the generated prelude.

static inline int tb_hmul2(int a, int b) {
  uint16_t lo = tb_host::f16FromFloat(tb_host::f16ToFloat(uint16_t(a)) * tb_host::f16ToFloat(uint16_t(b)));
  uint16_t hi = tb_host::f16FromFloat(tb_host::f16ToFloat(uint16_t(unsigned(a) >> 16)) * tb_host::f16ToFloat(uint16_t(unsigned(b) >> 16)));
  return int(lo | (uint32_t(hi) << 16));
}
// prmt.b32, sign-replicating selector nibbles included (permuteBytes).
static inline int tb_prmt(int a, int b, int s) { return int(tb_host::permuteBytes(uint32_t(a), uint32_t(b), uint32_t(s))); }
static inline int tb_pack_bf16x2(float lo, float hi) {
  return int(tb_host::bf16FromFloat(lo) | (uint32_t(tb_host::bf16FromFloat(hi)) << 16));
}
// fma.rn.bf16x2: a * b + c, exact in double, rounded to f32 and to bf16: the correctly rounded bf16
// wherever the first rounding is exact, as in the generated code's uses (codes times a power of two;
// codes less a constant), whose results are bf16 values.
static inline uint16_t tb_bfma(uint16_t a, uint16_t b, uint16_t c) {
  double v = double(tb_host::bf16ToFloat(a)) * double(tb_host::bf16ToFloat(b)) + double(tb_host::bf16ToFloat(c));
  return tb_host::bf16FromFloat(float(v));
}
static inline int tb_bfma2(int a, int b, int c) {
  uint16_t lo = tb_bfma(uint16_t(a), uint16_t(b), uint16_t(c));
  uint16_t hi = tb_bfma(uint16_t(unsigned(a) >> 16), uint16_t(unsigned(b) >> 16), uint16_t(unsigned(c) >> 16));
  return int(lo | (uint32_t(hi) << 16));
}

template <int N>
static inline void tb_cp_async(unsigned char* shared, const unsigned char* global) {
  static_assert(N == 4 || N == 8 || N == 16, "cp.async copies 4, 8 or 16 bytes");
  tb_host::Block& b = tb_host::block();
  if ((reinterpret_cast<uintptr_t>(shared) | reinterpret_cast<uintptr_t>(global)) % N != 0) tb_host::fail("a cp.async whose addresses are not aligned to its size");
  tb_host::record(shared, N);
  tb_host::record(global, N);
  if (b.immediateCopies) { memcpy(shared, global, N); return; }
  tb_host::Fiber& f = b.fibers[b.current];
  tb_host::Copy c{shared, {}, N, f.committed};
  memcpy(c.bytes, global, N);
  f.copies.push_back(c);
}
static inline void tb_cp_async_commit() {
  tb_host::Block& b = tb_host::block();
  b.fibers[b.current].committed++;
}
template <int N>
static inline void tb_cp_async_wait() {
  tb_host::Block& b = tb_host::block();
  tb_host::Fiber& f = b.fibers[b.current];
  // Groups 0 .. committed - 1 are closed; all but the newest N of them land.
  std::vector<tb_host::Copy> left;
  for (const tb_host::Copy& c : f.copies) {
    if (c.group < f.committed - N) memcpy(c.to, c.bytes, c.n);
    else left.push_back(c);
  }
  f.copies.swap(left);
}

// ldmatrix: lane l deposits its row address; lane l receives one word of each matrix.
template <bool Trans, int Count>
static inline void tb_ldmatrix(const unsigned char* p, int* regs) {
  tb_host::warpExchange(
    [&](uint64_t* s) {
      s[0] = reinterpret_cast<uintptr_t>(p);
      if ((tb_host::block().current & 31u) < 8u * Count) tb_host::record(p, 16);  // each row address one 16-byte read
    },
    [&]() {
      unsigned lane = tb_host::block().current & 31u, base = tb_host::warpBase();
      auto row = [&](int matrix, unsigned r) {
        unsigned from = unsigned(matrix) * 8 + r;
        if (from >= tb_host::laneCount()) tb_host::fail("an ldmatrix row address from a lane the block does not have");
        return reinterpret_cast<const uint16_t*>(uintptr_t(tb_host::slot(base + from)[0]));
      };
      for (int m = 0; m < Count; m++) {
        uint16_t lo, hi;
        if (Trans) { lo = row(m, 2 * (lane % 4))[lane / 4]; hi = row(m, 2 * (lane % 4) + 1)[lane / 4]; }
        else { const uint16_t* r = row(m, lane / 4); lo = r[2 * (lane % 4)]; hi = r[2 * (lane % 4) + 1]; }
        regs[m] = int(lo | (uint32_t(hi) << 16));
      }
    });
}
template <bool Trans>
static inline void tb_ldmatrix_x4(const unsigned char* p, int& r0, int& r1, int& r2, int& r3) {
  int r[4];
  tb_ldmatrix<Trans, 4>(p, r);
  r0 = r[0]; r1 = r[1]; r2 = r[2]; r3 = r[3];
}
template <bool Trans>
static inline void tb_ldmatrix_x2(const unsigned char* p, int& r0, int& r1) {
  int r[2];
  tb_ldmatrix<Trans, 2>(p, r);
  r0 = r[0]; r1 = r[1];
}
template <bool Trans>
static inline void tb_ldmatrix_x1(const unsigned char* p, int& r0) { tb_ldmatrix<Trans, 1>(p, &r0); }

// mma.sync.m16n8k16: each lane deposits its fragments, then computes its own four outputs.
template <bool Bf16>
static inline void tb_mma(float& d0, float& d1, float& d2, float& d3, int a0, int a1, int a2, int a3, int b0, int b1) {
  const int mine[6] = {a0, a1, a2, a3, b0, b1};
  float c[4] = {d0, d1, d2, d3};
  tb_host::warpExchange(
    [&](uint64_t* s) { for (int i = 0; i < 6; i++) s[i] = uint32_t(mine[i]); },
    [&]() {
      if (tb_host::laneCount() != 32) tb_host::fail("an mma in a warp of fewer than 32 lanes");
      unsigned lane = tb_host::block().current & 31u, base = tb_host::warpBase(), g = lane / 4, t = lane % 4;
      auto value = [](uint32_t word, int half) {
        uint16_t h = uint16_t(half ? word >> 16 : word);
        return double(Bf16 ? tb_host::bf16ToFloat(h) : tb_host::f16ToFloat(h));
      };
      // A[r][k]: lane 4 (r % 8) + (k % 8) / 2, register r / 8 + 2 (k / 8), half k % 2.
      auto A = [&](unsigned r, unsigned k) { return value(uint32_t(tb_host::slot(base + 4 * (r % 8) + (k % 8) / 2)[r / 8 + 2 * (k / 8)]), k % 2); };
      // B[k][n]: lane 4 n + (k % 8) / 2, register 4 + k / 8, half k % 2.
      auto B = [&](unsigned k, unsigned n) { return value(uint32_t(tb_host::slot(base + 4 * n + (k % 8) / 2)[4 + k / 8]), k % 2); };
      for (int i = 0; i < 4; i++) {
        unsigned r = g + 8 * (i / 2), n = 2 * t + (i % 2);
        double sum = c[i];
        for (unsigned k = 0; k < 16; k++) sum += A(r, k) * B(k, n);
        c[i] = float(sum);
      }
    });
  d0 = c[0]; d1 = c[1]; d2 = c[2]; d3 = c[3];
}
static inline void tb_mma_f16(float& d0, float& d1, float& d2, float& d3, int a0, int a1, int a2, int a3, int b0, int b1) { tb_mma<false>(d0, d1, d2, d3, a0, a1, a2, a3, b0, b1); }
static inline void tb_mma_bf16(float& d0, float& d1, float& d2, float& d3, int a0, int a1, int a2, int a3, int b0, int b1) { tb_mma<true>(d0, d1, d2, d3, a0, a1, a2, a3, b0, b1); }

// ---- The CUDA runtime calls of the harness.

enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "out of memory"; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaFuncSetAttribute(const void*, cudaFuncAttribute, int) { return cudaSuccess; }
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  *p = static_cast<T*>(malloc(bytes));
  if (*p) tb_host::block().buffers.push_back({reinterpret_cast<const unsigned char*>(*p), bytes});
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaMemset(void* p, int v, size_t bytes) { memset(p, v, bytes); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* to, const void* from, size_t bytes, cudaMemcpyKind) { memcpy(to, from, bytes); return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

#endif  // TILEBIT_HOST_H
