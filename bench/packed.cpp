// Packed projections by weight type: `gemm_packed` on weights stored as f32, bf16, f16 or int8,
// at the projection shapes of the KJV GPT-2 (256 wide, FFN 1024), llama-160m (768 wide, FFN 2048)
// and TinyLlama-1.1B (2048 wide, FFN 5632). One row (decode) is bound by the bytes of weights it
// streams: compare its `weight_bytes/s` with BM_read_bandwidth/256 of the same run. 512 rows (a
// prompt) are bound by the multiply-adds: compare `FLOP/s` with BM_peak_fma. `in_place=1` reads
// `[out, in]` rows (`torch.nn.Linear`) where they lie (`packed_matrix::in_place`, the zero-copy
// load of a checkpoint), `in_place=2` `[in, out]` rows (GPT-2's `Conv1D`), instead of packed
// slivers: same results, bit for bit.
#include <ctt/core/weight_type.hpp>
#include <ctt/io/half.hpp>
#include <ctt/kernels/packed_gemm.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace {

using ctt::index_t;
using ctt::weight_type;

std::vector<float> random_values(index_t n, std::uint32_t seed) {
    std::vector<float> v(n);
    std::uint32_t s = seed;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f;
    }
    return v;
}

/// `W[n, k]` (`tb` yes) or `W[k, n]` (`tb` no) stored as `type` (`f32`, `bf16` or `f16`) and
/// read in place.
ctt::kernels::packed_matrix rows_in_place(index_t k, index_t n, const std::vector<float>& w,
                                          weight_type type, ctt::kernels::transpose tb) {
    if (type == weight_type::f32) {
        auto rows = std::make_shared<std::vector<float>>(w);
        return ctt::kernels::packed_matrix::in_place(k, n, rows->data(), tb, type, rows);
    }
    auto rows = std::make_shared<std::vector<std::uint16_t>>(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        (*rows)[i] =
            type == weight_type::bf16 ? ctt::float_to_bf16(w[i]) : ctt::float_to_fp16(w[i]);
    }
    return ctt::kernels::packed_matrix::in_place(k, n, rows->data(), tb, type, rows);
}

/// `y[m, n] = x[m, k] W[n, k]^T` with W packed as `type` or read in place; args: type, m,
/// in_place (0 packed, 1 `[n, k]` rows, 2 `[k, n]` rows: the same random values).
template <index_t K, index_t N>
void BM_packed_linear(benchmark::State& state) {
    const auto type = static_cast<weight_type>(state.range(0));
    const auto m = static_cast<index_t>(state.range(1));
    const auto in_place = state.range(2);
    const auto w = random_values(N * K, 4); // [n, k]; as [k, n] it is another random matrix
    using ctt::kernels::transpose;
    const auto packed =
        in_place == 0
            ? ctt::kernels::packed_matrix(K, N, w.data(), K, transpose::yes, type)
            : rows_in_place(K, N, w, type, in_place == 1 ? transpose::yes : transpose::no);
    const auto x = random_values(m * K, 3);
    std::vector<float> y(m * N);
    for (auto _ : state) {
        ctt::kernels::gemm_packed(m, x.data(), K, packed, y.data(), N);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetLabel(std::string(ctt::to_string(type)));
    state.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m) * N * K,
                                                  benchmark::Counter::kIsIterationInvariantRate);
    state.counters["weight_bytes/s"] = benchmark::Counter(
        static_cast<double>(packed.bytes()), benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
    for (const auto type :
         {weight_type::f32, weight_type::bf16, weight_type::f16, weight_type::int8}) {
        for (const std::int64_t m : {1, 512}) {
            b->Args({static_cast<std::int64_t>(type), m, 0});
            if (type != weight_type::int8) {
                b->Args({static_cast<std::int64_t>(type), m, 1});
                b->Args({static_cast<std::int64_t>(type), m, 2});
            }
        }
    }
    b->ArgNames({"type", "m", "in_place"})->UseRealTime();
}

} // namespace

// The KJV GPT-2 (256 wide, FFN 1024): fused QKV and FFN products that fit in L2.
BENCHMARK_TEMPLATE(BM_packed_linear, 256, 768)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_packed_linear, 1024, 256)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_packed_linear, 768, 2048)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_packed_linear, 2048, 2048)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_packed_linear, 2048, 5632)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_packed_linear, 5632, 2048)->Apply(shapes);

BENCHMARK_MAIN();
