// Row-wise kernels (softmax, layer_norm, rms_norm, the activations, SwiGLU) next to their
// scalar twins, at rows x width = 512 x {768, 4096} (a BERT-base and a LLaMA-7B row).
// Counters: bytes/s of the tensors read and written once (what a memory-bound kernel moves).

#include <ctt/core/tensor.hpp>
#include <ctt/kernels/activations.hpp>
#include <ctt/kernels/glu.hpp>
#include <ctt/kernels/norms.hpp>
#include <ctt/kernels/reference/activations.hpp>
#include <ctt/kernels/reference/glu.hpp>
#include <ctt/kernels/reference/norms.hpp>
#include <ctt/kernels/reference/softmax.hpp>
#include <ctt/kernels/softmax.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>

namespace {

using ctt::dyn;
using ctt::shape;
using matrix = ctt::tensor<float, shape<dyn, dyn>>;
using row = ctt::tensor<float, shape<dyn>>;
namespace ref = ctt::kernels::reference;

constexpr ctt::index_t rows = 512;

matrix random_matrix(ctt::index_t r, ctt::index_t c, std::uint32_t seed) {
    matrix m(r, c);
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-4.f, 4.f);
    for (auto& v : m) {
        v = dist(gen);
    }
    return m;
}

row random_row(ctt::index_t c, std::uint32_t seed) {
    row v(c);
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(0.5f, 1.5f);
    for (auto& x : v) {
        x = dist(gen);
    }
    return v;
}

/// Records `bytes` moved per iteration (inputs read once + outputs written once).
void set_bytes(benchmark::State& state, std::int64_t floats_moved) {
    state.SetBytesProcessed(state.iterations() * floats_moved *
                            static_cast<std::int64_t>(sizeof(float)));
    state.counters["elements/s"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(rows * state.range(0)),
        benchmark::Counter::kIsRate);
}

template <bool Reference>
void BM_softmax(benchmark::State& state) {
    const auto w = static_cast<ctt::index_t>(state.range(0));
    const matrix x = random_matrix(rows, w, 1);
    matrix y(rows, w);
    for (auto _ : state) {
        if constexpr (Reference) {
            ref::softmax_rows(x.view(), y.view(), 0.125f);
        } else {
            ctt::softmax_rows(x.view(), y.view(), 0.125f);
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, static_cast<std::int64_t>(2 * rows * w));
}

template <bool Reference>
void BM_layer_norm(benchmark::State& state) {
    const auto w = static_cast<ctt::index_t>(state.range(0));
    const matrix x = random_matrix(rows, w, 2);
    const row gamma = random_row(w, 3);
    const row beta = random_row(w, 4);
    matrix y(rows, w);
    for (auto _ : state) {
        if constexpr (Reference) {
            ref::layer_norm(x.view(), gamma.view(), beta.view(), 1e-5f, y.view());
        } else {
            ctt::layer_norm(x.view(), gamma.view(), beta.view(), 1e-5f, y.view());
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, static_cast<std::int64_t>(2 * rows * w));
}

template <bool Reference>
void BM_rms_norm(benchmark::State& state) {
    const auto w = static_cast<ctt::index_t>(state.range(0));
    const matrix x = random_matrix(rows, w, 5);
    const row gamma = random_row(w, 6);
    matrix y(rows, w);
    for (auto _ : state) {
        if constexpr (Reference) {
            ref::rms_norm(x.view(), gamma.view(), 1e-6f, y.view());
        } else {
            ctt::rms_norm(x.view(), gamma.view(), 1e-6f, y.view());
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, static_cast<std::int64_t>(2 * rows * w));
}

template <ctt::activation A, bool Reference>
void BM_activation(benchmark::State& state) {
    const auto w = static_cast<ctt::index_t>(state.range(0));
    const matrix x = random_matrix(rows, w, 7);
    matrix y(rows, w);
    for (auto _ : state) {
        if constexpr (Reference) {
            ref::apply_activation(A, x.view(), y.view());
        } else {
            ctt::apply_activation<A>(x.view(), y.view());
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, static_cast<std::int64_t>(2 * rows * w));
}

template <bool Reference>
void BM_swiglu(benchmark::State& state) {
    const auto w = static_cast<ctt::index_t>(state.range(0));
    const matrix gate = random_matrix(rows, w, 8);
    const matrix up = random_matrix(rows, w, 9);
    matrix y(rows, w);
    for (auto _ : state) {
        if constexpr (Reference) {
            ref::glu(ctt::activation::silu, gate.view(), up.view(), y.view());
        } else {
            ctt::swiglu(gate.view(), up.view(), y.view());
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, static_cast<std::int64_t>(3 * rows * w));
}

using ctt::activation;

void widths(benchmark::internal::Benchmark* b) {
    b->Arg(768)->Arg(4096)->Unit(benchmark::kMicrosecond);
}

} // namespace

BENCHMARK(BM_softmax<false>)->Name("softmax/ctt")->Apply(widths);
BENCHMARK(BM_softmax<true>)->Name("softmax/reference")->Apply(widths);
BENCHMARK(BM_layer_norm<false>)->Name("layer_norm/ctt")->Apply(widths);
BENCHMARK(BM_layer_norm<true>)->Name("layer_norm/reference")->Apply(widths);
BENCHMARK(BM_rms_norm<false>)->Name("rms_norm/ctt")->Apply(widths);
BENCHMARK(BM_rms_norm<true>)->Name("rms_norm/reference")->Apply(widths);
BENCHMARK(BM_activation<activation::relu, false>)->Name("relu/ctt")->Apply(widths);
BENCHMARK(BM_activation<activation::relu, true>)->Name("relu/reference")->Apply(widths);
BENCHMARK(BM_activation<activation::gelu_erf, false>)->Name("gelu_erf/ctt")->Apply(widths);
BENCHMARK(BM_activation<activation::gelu_erf, true>)->Name("gelu_erf/reference")->Apply(widths);
BENCHMARK(BM_activation<activation::gelu_tanh, false>)->Name("gelu_tanh/ctt")->Apply(widths);
BENCHMARK(BM_activation<activation::gelu_tanh, true>)->Name("gelu_tanh/reference")->Apply(widths);
BENCHMARK(BM_activation<activation::quick_gelu, false>)->Name("quick_gelu/ctt")->Apply(widths);
BENCHMARK(BM_activation<activation::quick_gelu, true>)->Name("quick_gelu/reference")->Apply(widths);
BENCHMARK(BM_activation<activation::silu, false>)->Name("silu/ctt")->Apply(widths);
BENCHMARK(BM_activation<activation::silu, true>)->Name("silu/reference")->Apply(widths);
BENCHMARK(BM_swiglu<false>)->Name("swiglu/ctt")->Apply(widths);
BENCHMARK(BM_swiglu<true>)->Name("swiglu/reference")->Apply(widths);

BENCHMARK_MAIN();
