// rnnkit fused CPU kernels: threads — a spin-then-sleep barrier, the hidden-unit slices and batch-row
// groups a scan's threads own (its layout). Shape legend in common.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNNKIT_PAUSE() _mm_pause()
#else
#define RNNKIT_PAUSE() ((void)0)
#endif

namespace rnnkit {

// Barrier for the few threads of one parallel region. A waiter spins first (a time step is short and
// the threads are balanced), then sleeps on a futex so that, on a machine busier than its cores, it
// hands its core to the thread it is waiting for instead of competing with it.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n = 1) : n_(n) {}
  void init(int n) { n_ = n; }
  void wait() {
    if (n_ <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all();
      return;
    }
    for (int spins = 0; spins < kSpins; ++spins) {
      if (gen_.load(std::memory_order_acquire) != gen) return;
      RNNKIT_PAUSE();
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (gen_.load(std::memory_order_seq_cst) == gen) sleep_while(gen);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  static constexpr int kSpins = 300;  // ~20 µs: a PAUSE takes ~65 ns on Zen 5
#if defined(__linux__)
  void sleep_while(int gen) {
    syscall(SYS_futex, reinterpret_cast<int*>(&gen_), FUTEX_WAIT_PRIVATE, gen, nullptr, nullptr, 0);
  }
  void wake_all() {
    syscall(SYS_futex, reinterpret_cast<int*>(&gen_), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
  }
#else
  void sleep_while(int) { std::this_thread::yield(); }
  void wake_all() {}
#endif
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  int n_;
};
static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex needs a plain int");

// The hidden units [begin, end) a thread owns; slices are multiples of the SIMD width except the last.
struct Slice {
  long begin, end;
  long size() const { return end - begin; }
};

inline Slice slice_of(long H, int nthreads, int tid, int W) {
  long chunk = (H + nthreads - 1) / nthreads;
  chunk = (chunk + W - 1) / W * W;
  long b = std::min<long>(H, chunk * tid), e = std::min<long>(H, chunk * (tid + 1));
  return {b, e};
}

// How many threads have a non-empty slice of H.
inline int useful_threads(long H, int nthreads, int W) {
  int n = 0;
  for (int t = 0; t < nthreads; ++t) n += slice_of(H, nthreads, t, W).size() > 0;
  return n > 0 ? n : 1;
}

// How the threads of a scan share the work. Batch rows are independent through time, so with enough
// rows each thread takes whole rows and runs the sequence with NO barrier ("rows"); otherwise the
// threads split the hidden units of every gate and meet at a barrier each step ("units").
struct Layout {
  int threads;  // total
  int groups;   // row groups (each runs independently)
  int members;  // threads per group, each owning a slice of the units
};

enum class Split { kAuto = 0, kRows = 1, kUnits = 2 };

// `mr`: rows of the GEMM register tile; `u_bytes`: size of U; `work`: multiply-adds per step.
inline Layout choose_layout(int threads, Split split, long B, long H, long P, int W, int mr, long u_bytes,
                            long work) {
  const int n = threads < 1 ? 1 : threads;
  const int unit_threads = std::min(useful_threads(H, n, W), useful_threads(P, n, W));
  const int row_threads = static_cast<int>(std::min<long>(n, (B + mr - 1) / mr));
  if (n == 1 || (unit_threads == 1 && row_threads == 1)) return {1, 1, 1};
  if (split == Split::kRows) return {row_threads, row_threads, 1};
  if (split == Split::kUnits) return {unit_threads, 1, unit_threads};
  // rows: every thread streams all of U each step, which pays while U stays in its L2 (measured on Zen 5:
  // rows 1.3x faster at B=32 H=128, units 7% faster at B=128 H=1024 where U is 16 MiB)
  const bool rows_pay = row_threads == n && u_bytes <= (3L << 19);
  if (rows_pay) return {n, n, 1};
  if (work < 96L * 1024) return {1, 1, 1};  // a barrier per step costs more than a second core saves
  return {unit_threads, 1, unit_threads};
}

// One thread's share under a layout: rows [r0, r1), hidden units hs, outputs ps (proj) or hs.
struct Part {
  long r0, r1;
  Slice hs, ps;
  int group, member;
  long rows() const { return r1 - r0; }
};

inline Part part_of(const Layout& L, int tid, long B, long H, long P, bool proj, int W, int mr) {
  const int g = tid / L.members, m = tid % L.members;
  long chunk = (B + L.groups - 1) / L.groups;
  chunk = (chunk + mr - 1) / mr * mr;
  const long r0 = std::min(B, chunk * g), r1 = std::min(B, chunk * (g + 1));
  const Slice hs = slice_of(H, L.members, m, W);
  return {r0, r1, hs, proj ? slice_of(P, L.members, m, W) : hs, g, m};
}

// One barrier per row group (members of a group meet each step; groups never wait for each other).
class GroupBarriers {
 public:
  explicit GroupBarriers(const Layout& L) : b_(new SpinBarrier[L.groups]) {
    for (int g = 0; g < L.groups; ++g) b_[g].init(L.members);
  }
  SpinBarrier& operator[](int g) { return b_[g]; }

 private:
  std::unique_ptr<SpinBarrier[]> b_;
};

}  // namespace rnnkit
