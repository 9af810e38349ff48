// rnnkit fused CPU kernels: shared definitions (SIMD types, vectorisable math, a spin barrier).
//
// Shape legend (used in every file of this directory):
//   T  time steps              B  batch                 I  input size of a layer
//   H  hidden size             P  recurrent output size (proj_size, or H without a projection)
//   G  row blocks of the cell's weights (LSTM 4, GRU 3, Elman 1)
//   S  per-unit values a cell saves per step for its backward pass, stored (T, B, S*H)
//   W  SIMD width in elements (16 floats / 8 doubles with AVX-512)
//
// All tensors are dense, row-major, time-major: xg (T, B, G*H), out (T, B, P), states (B, P) / (B, H).
// No header here includes torch: the kernels work on raw pointers, the binding (binding.cpp) checks
// arguments, allocates and calls in.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNNKIT_PAUSE() _mm_pause()
#else
#define RNNKIT_PAUSE() ((void)0)
#endif

#if defined(__AVX512F__)
#define RNNKIT_VBYTES 64
#elif defined(__AVX__)
#define RNNKIT_VBYTES 32
#else
#define RNNKIT_VBYTES 16
#endif

// `#pragma omp simd` spelled so that it also works inside macro bodies.
#define RNNKIT_SIMD _Pragma("omp simd")
#define RNNKIT_UNROLL _Pragma("GCC unroll 16")

namespace rnnkit {

// A SIMD register of T (GCC/Clang vector extension: compiles to AVX-512, AVX2 or SSE as available).
template <class T>
struct Simd {
  typedef T V __attribute__((vector_size(RNNKIT_VBYTES)));
  static constexpr int W = RNNKIT_VBYTES / sizeof(T);
  static inline V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static inline void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
};

// ---- math: branch-free so that `omp simd` loops calling it vectorise ---------------------------------

// exp(x) for float, Cephes' minimax polynomial on [-ln2/2, ln2/2] with range reduction x = n ln2 + r
// (max rel. error ~2 ulp); inputs are clamped to the finite range.
inline float exp_(float x) {
  x = x < -87.33f ? -87.33f : x;  // clamp (no fmin/fmax: their NaN rules block vectorisation)
  x = x > 88.37f ? 88.37f : x;
  const float n = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n through the exponent bits; n in [-126, 127] after the clamp
  const float scale = __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
  return p * scale;
}
inline double exp_(double x) { return std::exp(x); }

// tanh(x) for float: odd/even rational minimax approximation on [-7.9, 7.9] (Eigen's float tanh),
// exact to a few ulp; |x| < 4e-4 returns x.
inline float tanh_(float x) {
  float c = x < -7.90531110763549805f ? -7.90531110763549805f : x;
  c = c > 7.90531110763549805f ? 7.90531110763549805f : c;
  const float x2 = c * c;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * c;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float y = p / q;
  return (x < 0.0004f && x > -0.0004f) ? x : y;
}
inline double tanh_(double x) { return std::tanh(x); }

template <class T>
inline T sigmoid_(T x) {
  return T(1) / (T(1) + exp_(-x));
}

// ---- threads -------------------------------------------------------------------------------------------

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

// Ask the kernel to back [p, p + bytes) with 2 MiB pages before it is first touched: large buffers then
// take 512x fewer page faults (the kernels write tens of MB per call) and fewer TLB misses (measured:
// -11% time for an LSTM training step at B=128, T=50, H=1024).
inline void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  if (bytes < 2 * kHuge) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// Large blocks (>= 4 MiB) are kept for reuse: a training loop asks for the same sizes every step, and a
// fresh block costs page faults plus the kernel zeroing every page (~10% of a large LSTM step).
// Sizes are rounded up to 2 MiB; at most `cap` bytes are kept (RNNKIT_CPU_CACHE_MB, default 1024).
class BlockPool {
 public:
  static constexpr size_t kHuge = size_t(1) << 21, kMin = 2 * kHuge;

  static BlockPool& instance() {
    static BlockPool* pool = new BlockPool();  // never destroyed: tensors may outlive static destructors
    return *pool;
  }
  static size_t rounded(size_t bytes) { return (bytes + kHuge - 1) / kHuge * kHuge; }

  void* get(size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(kHuge, size);
    if (p == nullptr) throw std::bad_alloc();
    advise_huge_pages(p, size);
    return p;
  }
  void put(void* p, size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + size <= cap_) {
        free_.emplace(size, p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }

 private:
  BlockPool() {
    const char* env = std::getenv("RNNKIT_CPU_CACHE_MB");
    cap_ = (env ? static_cast<size_t>(std::atol(env)) : 1024) << 20;
  }
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0, cap_ = 0;
};

// 64-byte aligned scratch memory owned by a kernel call; zero-filled only when asked.
template <class T>
struct Buffer {
  T* data = nullptr;
  size_t bytes = 0;
  bool pooled = false;
  explicit Buffer(long n, bool zero = false) {
    bytes = (static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64 * 64;
    pooled = bytes >= BlockPool::kMin;
    data = static_cast<T*>(pooled ? BlockPool::instance().get(bytes) : std::aligned_alloc(64, bytes));
    if (data == nullptr) throw std::bad_alloc();
    if (zero) std::memset(data, 0, bytes);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (pooled)
      BlockPool::instance().put(data, bytes);
    else
      std::free(data);
  }
};

}  // namespace rnnkit
