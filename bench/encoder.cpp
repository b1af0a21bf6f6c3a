// Whole-encoder benchmark: BERT-base shape (12 layers, 768 wide, 12 heads, FFN 3072, random
// weights) encoding a batch of 8 sequences of 128 tokens in one call, as sequences/s and FLOP/s.
// FLOPs per token and layer: 8 H^2 (Q, K, V, output projections) + 4 H F (the FFN) + 4 L H
// (scores and the weighted sum of values); the embeddings, norms and pooler are left out.
// Compare FLOP/s with BM_peak_fma/2 from the same run: the fraction of the FMA peak.
#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>
#include <ctt/models/deberta.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using ctt::index_t;

struct bert_base {
    static constexpr index_t vocab_size = 30522;
    static constexpr index_t hidden_size = 768;
    static constexpr index_t num_heads = 12;
    static constexpr index_t intermediate_size = 3072;
    static constexpr index_t num_layers = 12;
    static constexpr index_t max_positions = 512;
    static constexpr index_t type_vocab_size = 2;
    static constexpr ctt::activation hidden_act = ctt::activation::gelu_erf;
    static constexpr float norm_eps = 1e-12f;
    static constexpr ctt::encoder_heads heads = ctt::encoder_heads::pooler;
};
using model_type = ctt::bert<bert_base>;

// DeBERTa-v3-base: the same sizes with disentangled attention (c2p + p2c over 256 log buckets
// of relative positions up to 512, shared keys, normalised relative embeddings).
struct deberta_v3_base : bert_base {
    static constexpr index_t vocab_size = 128100;
    static constexpr index_t type_vocab_size = 0;
    static constexpr float norm_eps = 1e-7f;
    static constexpr ctt::position_embedding positions = ctt::position_embedding::none;
    static constexpr int position_buckets = 256;
    static constexpr int max_relative_positions = 512;
    static constexpr bool share_att_key = true;
    static constexpr bool norm_rel_ebd = true;
    static constexpr ctt::encoder_heads heads = ctt::encoder_heads::none;
};

/// Fills every parameter with small uniform values (norm scales near 1).
struct filler {
    std::uint32_t state = 12345;
    template <class T, ctt::tensor_shape S>
    void parameter(const std::string& name, ctt::tensor_view<T, S> v) {
        const bool is_norm_scale = name.find("LayerNorm.weight") != std::string::npos;
        T* p = v.data();
        for (index_t i = 0; i < v.size(); ++i) {
            state = state * 1664525u + 1013904223u;
            const float u = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) - 0.5f;
            p[i] = (is_norm_scale ? 1.f : 0.f) + 0.05f * u;
        }
    }
    void ignore(const std::string&) {}
};

template <class M>
const M& shared_model() {
    static const std::unique_ptr<M> model = [] {
        auto m = std::make_unique<M>();
        filler f;
        m->visit_parameters(f, "");
        if constexpr (requires { m->finish_loading(); }) {
            m->finish_loading();
        }
        if (std::getenv("CTT_BENCH_UNPACKED") == nullptr) {
            ctt::pack_weights(*m); // as load_parameters leaves a model
        }
        return m;
    }();
    return *model;
}

template <class M>
void BM_encode(benchmark::State& state) {
    const auto batch = static_cast<index_t>(state.range(0));
    const auto length = static_cast<index_t>(state.range(1));
    const auto& model = shared_model<M>();
    std::vector<std::int32_t> ids(batch * length);
    for (index_t i = 0; i < ids.size(); ++i) {
        ids[i] = static_cast<std::int32_t>((i * 7919) % bert_base::vocab_size);
    }
    const ctt::token_ids v(ids.data(), ctt::shape<ctt::dyn, ctt::dyn>(batch, length));
    for (auto _ : state) {
        auto out = model.forward(v, ctt::encoder_inputs{});
        benchmark::DoNotOptimize(out.last_hidden_state.data());
    }
    constexpr double H = 768;
    constexpr double F = 3072;
    const double tokens = static_cast<double>(batch * length);
    const double flops =
        tokens * 12 * (8 * H * H + 4 * H * F + 4 * static_cast<double>(length) * H);
    state.counters["sequences/s"] =
        benchmark::Counter(static_cast<double>(batch) * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate);
    state.counters["FLOP/s"] = benchmark::Counter(flops * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

} // namespace

BENCHMARK(BM_encode<model_type>)
    ->Name("BM_bert_base_encode")
    ->ArgNames({"batch", "length"})
    ->Args({8, 128})
    ->Args({1, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Repetitions(3);
// The same FLOP count as BERT-base (the relative terms left out): its FLOP/s beside BERT's is
// what the disentangled terms cost.
BENCHMARK(BM_encode<ctt::deberta_v2<deberta_v3_base>>)
    ->Name("BM_deberta_v3_base_encode")
    ->ArgNames({"batch", "length"})
    ->Args({8, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Repetitions(3);

BENCHMARK_MAIN();
