// mixture-of-experts benchmarks: a Mixtral-style layer scaled down to H=1024, F=2816, E=8
// SiLU-gated experts, with top-2 routing against all eight experts (k=8), for one token (the
// decode step, bound by reading the chosen experts' weights) and 128 tokens (a prefill chunk,
// bound by the GEMMs), beside one gated FFN of the same width. Only the experts that ran
// count towards FLOP/s (6 H F per token and expert: the [2F, H] and [H, F] products) and
// weight bytes (12 H F per expert that ran), so k=2 should take about 2/8 of k=8 and about
// twice the single FFN. With k=2 of 8 experts, 128 tokens give each expert about 32 rows, a
// smaller and less efficient GEMM than 128 rows: BM_gated_ffn/32 is that per-expert cost, and
// 512 tokens at k=2 make the same 1024 token-expert pairs of 128 rows as 128 tokens at k=8.
// Compare FLOP/s with BM_peak_fma/2 and weight_bytes/s with BM_read_bandwidth/256 from the
// same run.
#include <ctt/blocks/feed_forward.hpp>
#include <ctt/blocks/mixture_of_experts.hpp>
#include <ctt/core/tensor.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>

namespace {

using ctt::activation;
using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

constexpr index_t hidden = 1024;
constexpr index_t inner = 2816;
constexpr index_t experts = 8;
using moe_t = ctt::mixture_of_experts<hidden, inner, experts, activation::silu>;
using ffn_t = ctt::gated_feed_forward<hidden, inner, activation::silu>;

/// Uniform values in [-scale, scale) from a linear congruential generator.
void fill(float* p, index_t n, std::uint32_t seed, float scale) {
    std::uint32_t s = seed;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f) * scale;
    }
}

/// One layer (277 MB of weights) shared by every MoE benchmark; each sets its own top_k.
moe_t& shared_moe() {
    static const std::unique_ptr<moe_t> moe = [] {
        auto m = std::make_unique<moe_t>();
        fill(m->router.weight.data(), m->router.weight.size(), 1, 0.05f);
        fill(m->gate_up.data(), m->gate_up.size(), 2, 0.03f);
        fill(m->down.data(), m->down.size(), 3, 0.02f);
        return m;
    }();
    return *moe;
}

void set_expert_counters(benchmark::State& state, double tokens_times_experts, double experts_run) {
    constexpr double hf = static_cast<double>(hidden) * static_cast<double>(inner);
    state.counters["FLOP/s"] = benchmark::Counter(6.0 * hf * tokens_times_experts,
                                                  benchmark::Counter::kIsIterationInvariantRate);
    state.counters["weight_bytes/s"] =
        benchmark::Counter(12.0 * hf * experts_run, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["experts_run"] = experts_run;
}

/// `range(0)` tokens through the layer with `range(1)` of its 8 experts per token.
void BM_moe(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    moe_t& moe = shared_moe();
    moe.routing.top_k = static_cast<index_t>(state.range(1));
    tensor<float, shape<dyn, hidden>> x(n), y(n);
    fill(x.data(), x.size(), 4, 1.f);
    moe_t::workspace ws(n);
    for (auto _ : state) {
        moe.forward(std::as_const(x).view(), y.view(), false, ws);
        benchmark::DoNotOptimize(y.data());
    }
    index_t run = 0, busiest = 0;
    for (index_t e = 0; e < experts; ++e) {
        run += ws.expert_load(e) > 0 ? 1 : 0;
        busiest = std::max(busiest, ws.expert_load(e));
    }
    set_expert_counters(state, static_cast<double>(n * moe.routing.top_k),
                        static_cast<double>(run));
    state.counters["busiest_expert_tokens"] = static_cast<double>(busiest);
}

/// One expert as a plain gated FFN: what each expert-token pair of the MoE should cost.
void BM_gated_ffn(benchmark::State& state) {
    const auto n = static_cast<index_t>(state.range(0));
    auto ffn = std::make_unique<ffn_t>();
    fill(ffn->gate.weight.data(), ffn->gate.weight.size(), 5, 0.03f);
    fill(ffn->up.weight.data(), ffn->up.weight.size(), 6, 0.03f);
    fill(ffn->down.weight.data(), ffn->down.weight.size(), 7, 0.02f);
    tensor<float, shape<dyn, hidden>> x(n), y(n);
    tensor<float, shape<dyn, inner>> scratch(2 * n);
    fill(x.data(), x.size(), 4, 1.f);
    for (auto _ : state) {
        ffn->forward(std::as_const(x).view(), y.view(), false, scratch.view());
        benchmark::DoNotOptimize(y.data());
    }
    set_expert_counters(state, static_cast<double>(n), 1.0);
}

} // namespace

BENCHMARK(BM_moe)
    ->ArgNames({"tokens", "top_k"})
    ->Args({1, 2})
    ->Args({1, 8})
    ->Args({128, 2})
    ->Args({128, 8})
    ->Args({512, 2})
    ->UseRealTime();
BENCHMARK(BM_gated_ffn)->ArgName("tokens")->Arg(1)->Arg(32)->Arg(128)->UseRealTime();

BENCHMARK_MAIN();
