#include "nn/onednn_gemm.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <memory>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace lmpipe::nn {
namespace {

bool g_bf16_products = false;

// The buffers that have a bf16 copy. Changed only outside parallel regions, read by every product.
struct CopiedRange {
  const float* begin;
  const float* end;
  const bf16* copy;
};
std::vector<CopiedRange>& copied_ranges() {
  static std::vector<CopiedRange> ranges;
  return ranges;
}

// The bf16 copy of the operand at p, or null.
const bf16* find_copy(const float* p) {
  for (const CopiedRange& r : copied_ranges())
    if (p >= r.begin && p < r.end) return r.copy + (p - r.begin);
  return nullptr;
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// One product's shape as oneDNN's primitives are made for it.
struct ProductKey {
  size_t M, N, K, lda, ldb, ldc;
  bool ta, tb, bf16;  // bf16: bf16 operands, else fp32
  float alpha, beta;
  bool operator==(const ProductKey&) const = default;
};
struct ProductKeyHash {
  size_t operator()(const ProductKey& k) const {
    size_t h = 1469598103934665603ull;
    for (size_t v : {k.M, k.N, k.K, k.lda, k.ldb, k.ldc, size_t(k.ta) | size_t(k.tb) << 1 | size_t(k.bf16) << 2})
      h = (h ^ v) * 1099511628211ull;
    const auto scales = size_t(std::bit_cast<uint32_t>(k.alpha)) << 32 | std::bit_cast<uint32_t>(k.beta);
    return (h ^ scales) * 1099511628211ull;
  }
};

// A product ready to run: oneDNN's primitive and its operands' memory, pointed at new data each time.
struct Product {
  dnnl::matmul matmul;
  dnnl::memory a, b, c;
};

// What one thread keeps: its stream, the products of the shapes it has multiplied (oneDNN's own cache
// would find them too, but only after describing the product again, which costs more than a small
// product), and scratch for operands that have no bf16 copy.
struct ThreadState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::unordered_map<ProductKey, Product, ProductKeyHash> products;
  std::vector<bf16> a, b;
};
ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

// Shapes a thread keeps primitives for before it starts over (the LM head's row counts vary by batch).
constexpr size_t kMaxKeptShapes = 512;

Product make_product(const ThreadState& s, const ProductKey& k) {
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  const auto M = dnnl::memory::dim(k.M), N = dnnl::memory::dim(k.N), K = dnnl::memory::dim(k.K);
  const auto lda = dnnl::memory::dim(k.lda), ldb = dnnl::memory::dim(k.ldb), ldc = dnnl::memory::dim(k.ldc);
  const dt operands = k.bf16 ? dt::bf16 : dt::f32;
  const dnnl::memory::desc a({M, K}, operands, k.ta ? dims{1, lda} : dims{lda, 1});
  const dnnl::memory::desc b({K, N}, operands, k.tb ? dims{1, ldb} : dims{ldb, 1});
  const dnnl::memory::desc c({M, N}, dt::f32, dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (k.alpha != 1.0f) attr.set_output_scales(0, {k.alpha});
  if (k.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(k.beta);
    attr.set_post_ops(ops);
  }
  return Product{dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, s.engine)),
                 dnnl::memory(a, s.engine, DNNL_MEMORY_NONE), dnnl::memory(b, s.engine, DNNL_MEMORY_NONE),
                 dnnl::memory(c, s.engine, DNNL_MEMORY_NONE)};
}

// C = alpha A B + beta C for the key's shape and types, with this thread's primitive for it.
void run_product(ThreadState& s, const ProductKey& key, const void* a, const void* b, float* c) {
  auto it = s.products.find(key);
  if (it == s.products.end()) {
    if (s.products.size() >= kMaxKeptShapes) s.products.clear();
    try {
      it = s.products.emplace(key, make_product(s, key)).first;
    } catch (const dnnl::error& e) {
      throw Error(fmt::format("oneDNN cannot make a {} product of [{}, {}] x [{}, {}]: {}", key.bf16 ? "bf16" : "fp32",
                              key.M, key.K, key.K, key.N, e.what()));
    }
  }
  Product& p = it->second;
  p.a.set_data_handle(const_cast<void*>(a));
  p.b.set_data_handle(const_cast<void*>(b));
  p.c.set_data_handle(c);
  p.matmul.execute(s.stream, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
  s.stream.wait();
}

// C = beta C, as sgemm does when there are no products to sum (K = 0).
void scale_only(size_t M, size_t N, float beta, float* C, size_t ldc) {
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

// src [rows, cols] (row stride ld) as packed bf16 rows in dst.
void pack_bf16(const float* src, size_t rows, size_t cols, size_t ld, std::vector<bf16>& dst) {
  if (dst.size() < rows * cols) dst.resize(rows * cols);
  if (ld == cols) {
    to_bf16(src, dst.data(), rows * cols);
  } else {
    for (size_t r = 0; r < rows; ++r) to_bf16(src + r * ld, dst.data() + r * cols, cols);
  }
}

}  // namespace

void to_bf16(const float* src, bf16* dst, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) dst[i] = to_bf16(src[i]);
}

std::string bf16_unavailable_reason() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const auto bits = unsigned(isa), wanted = unsigned(dnnl::cpu_isa::avx512_core_bf16);
  if ((bits & wanted) == wanted) return {};
  return fmt::format("this CPU has no AVX512-BF16 (oneDNN's ISA: {})", isa_name(isa));
}

void set_bf16_products(bool on) {
  if (on) {
    const std::string why = bf16_unavailable_reason();
    if (!why.empty()) throw Error("bf16 products: " + why);
  }
  g_bf16_products = on;
}

bool bf16_products() { return g_bf16_products; }

bool select_precision(const std::string& precision, const char* program, bool quiet) {
  if (precision != "fp32" && precision != "bf16")
    throw UsageError(fmt::format("--precision {}: give fp32 or bf16", precision));
  const std::string why = precision == "bf16" ? bf16_unavailable_reason() : "";
  if (!why.empty() && !quiet)
    std::fprintf(stderr, "%s: warning: --precision bf16: %s; computing in fp32\n", program, why.c_str());
  set_bf16_products(precision == "bf16" && why.empty());
  return bf16_products();
}

void gemm_bf16(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
               const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_only(M, N, beta, C, ldc);
  ThreadState& s = thread_state();
  const bf16* a = find_copy(A);
  if (a == nullptr) {
    if (ta) pack_bf16(A, K, M, lda, s.a), lda = M;
    else pack_bf16(A, M, K, lda, s.a), lda = K;
    a = s.a.data();
  }
  const bf16* b = find_copy(B);
  if (b == nullptr) {
    if (tb) pack_bf16(B, N, K, ldb, s.b), ldb = K;
    else pack_bf16(B, K, N, ldb, s.b), ldb = N;
    b = s.b.data();
  }
  run_product(s, ProductKey{M, N, K, lda, ldb, ldc, ta, tb, true, alpha, beta}, a, b, C);
}

void gemm_f32_few_rows(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                       const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_only(M, N, beta, C, ldc);
  run_product(thread_state(), ProductKey{M, N, K, lda, ldb, ldc, ta, tb, false, alpha, beta}, A, B, C);
}

std::unique_ptr<Bf16Copy> copy_for_bf16_products(const float* data, size_t n) {
  return bf16_products() ? std::make_unique<Bf16Copy>(data, n) : nullptr;
}

Bf16Copy::Bf16Copy(const float* data, size_t n) : data_(data), n_(n), copy_(std::make_unique<bf16[]>(n)) {
  copied_ranges().push_back({data_, data_ + n_, copy_.get()});
  refresh();
}

Bf16Copy::~Bf16Copy() {
  auto& ranges = copied_ranges();
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [&](const CopiedRange& r) { return r.copy == copy_.get(); }),
               ranges.end());
}

void Bf16Copy::refresh() {
  const size_t chunk = size_t(1) << 16;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n_; i += chunk) to_bf16(data_ + i, copy_.get() + i, std::min(chunk, n_ - i));
}

}  // namespace lmpipe::nn
