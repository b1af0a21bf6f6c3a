// gemm benchmarks: ctt's packed kernel beside the scalar twin, OpenBLAS and Eigen, square
// sizes and the linear-layer shapes of a BERT-base/GPT-2 block (hidden 768, FFN 3072), in
// FLOP/s. Compare 2-thread figures with BM_peak_fma/2 from the same run.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/gemm.hpp>
#include <ctt/kernels/reference/gemm.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <utility>

#if defined(CTT_HAVE_OPENBLAS)
// OpenBLAS's header otherwise declares C99 `_Complex` types, which clang -Wpedantic rejects in C++.
#define FORCE_OPENBLAS_COMPLEX_STRUCT 1
#include <cblas.h>
#endif
#if defined(CTT_HAVE_EIGEN)
#include <Eigen/Core>
#endif

namespace {

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

void fill(float* p, index_t n, std::uint32_t seed) {
    std::uint32_t s = seed;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f;
    }
}

struct square_operands {
    explicit square_operands(index_t n)
        : a(n, n)
        , b(n, n)
        , c(n, n) {
        fill(a.data(), a.size(), 1);
        fill(b.data(), b.size(), 2);
    }
    tensor<float, shape<dyn, dyn>> a, b, c;
};

void set_flops(benchmark::State& state, double m, double n, double k) {
    state.counters["FLOP/s"] =
        benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gemm_ctt(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    square_operands op(n);
    for (auto _ : state) {
        ctt::matmul(op.a.view(), op.b.view(), op.c.view());
        benchmark::DoNotOptimize(op.c.data());
    }
    set_flops(state, n, n, n);
}

/// The same product with every extent static: the packing-free fast path (sizes <= 64).
template <index_t N>
void BM_gemm_ctt_static(benchmark::State& state) {
    tensor<float, shape<N, N>> a, b, c;
    fill(a.data(), a.size(), 1);
    fill(b.data(), b.size(), 2);
    for (auto _ : state) {
        ctt::matmul(std::as_const(a).view(), std::as_const(b).view(), c.view());
        benchmark::DoNotOptimize(c.data());
    }
    set_flops(state, N, N, N);
}

void BM_gemm_naive(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    square_operands op(n);
    for (auto _ : state) {
        ctt::kernels::reference::gemm(n, n, n, op.a.data(), n, op.b.data(), n,
                                      ctt::kernels::transpose::no, op.c.data(), n);
        benchmark::DoNotOptimize(op.c.data());
    }
    set_flops(state, n, n, n);
}

#if defined(CTT_HAVE_OPENBLAS)
void BM_gemm_openblas(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    const auto ni = static_cast<int>(n);
    square_operands op(n);
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.f, op.a.data(), ni,
                    op.b.data(), ni, 0.f, op.c.data(), ni);
        benchmark::DoNotOptimize(op.c.data());
    }
    set_flops(state, n, n, n);
}
#endif

#if defined(CTT_HAVE_EIGEN)
void BM_gemm_eigen(benchmark::State& state) {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto n = static_cast<Eigen::Index>(state.range(0));
    square_operands op(static_cast<index_t>(n));
    Eigen::Map<const matrix> a(op.a.data(), n, n), b(op.b.data(), n, n);
    Eigen::Map<matrix> c(op.c.data(), n, n);
    for (auto _ : state) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(op.c.data());
    }
    set_flops(state, static_cast<double>(n), static_cast<double>(n), static_cast<double>(n));
}
#endif

/// A linear layer `y[M,N] = x[M,K] W[N,K]^T + b`: M is the runtime sequence length.
template <index_t K, index_t N>
void BM_linear_ctt(benchmark::State& state) {
    const auto m = static_cast<index_t>(state.range(0));
    tensor<float, shape<dyn, K>> x(m);
    tensor<float, shape<N, K>> w;
    tensor<float, shape<N>> bias;
    tensor<float, shape<dyn, N>> y(m);
    fill(x.data(), x.size(), 3);
    fill(w.data(), w.size(), 4);
    fill(bias.data(), bias.size(), 5);
    for (auto _ : state) {
        ctt::matmul_bt(std::as_const(x).view(), std::as_const(w).view(), std::as_const(bias).view(),
                       y.view());
        benchmark::DoNotOptimize(y.data());
    }
    set_flops(state, static_cast<double>(m), N, K);
}

#if defined(CTT_HAVE_OPENBLAS)
template <index_t K, index_t N>
void BM_linear_openblas(benchmark::State& state) {
    const auto m = static_cast<index_t>(state.range(0));
    tensor<float, shape<dyn, K>> x(m);
    tensor<float, shape<N, K>> w;
    tensor<float, shape<dyn, N>> y(m);
    fill(x.data(), x.size(), 3);
    fill(w.data(), w.size(), 4);
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), N, K, 1.f,
                    x.data(), K, w.data(), K, 0.f, y.data(), N);
        benchmark::DoNotOptimize(y.data());
    }
    set_flops(state, static_cast<double>(m), N, K);
}
#endif

} // namespace

// Families run in registration order; ctt first, so OpenBLAS's spinning worker threads do
// not overlap ctt's measurements.
BENCHMARK(BM_gemm_ctt)->RangeMultiplier(2)->Range(16, 2048)->UseRealTime();
BENCHMARK_TEMPLATE(BM_gemm_ctt_static, 16)->UseRealTime();
BENCHMARK_TEMPLATE(BM_gemm_ctt_static, 32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_gemm_ctt_static, 64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_ctt, 768, 768)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_ctt, 768, 3072)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_ctt, 3072, 768)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
BENCHMARK(BM_gemm_naive)->RangeMultiplier(2)->Range(64, 512)->UseRealTime();
#if defined(CTT_HAVE_EIGEN)
BENCHMARK(BM_gemm_eigen)->RangeMultiplier(2)->Range(64, 2048)->UseRealTime();
#endif
#if defined(CTT_HAVE_OPENBLAS)
BENCHMARK(BM_gemm_openblas)->RangeMultiplier(2)->Range(64, 2048)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_openblas, 768, 768)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_openblas, 768, 3072)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
BENCHMARK_TEMPLATE(BM_linear_openblas, 3072, 768)->Arg(1)->Arg(128)->Arg(512)->UseRealTime();
#endif

BENCHMARK_MAIN();
