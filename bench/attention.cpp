// Attention benchmarks: flash attention beside the unfused path (GEMM Q K^T into a full score
// matrix, softmax_rows, GEMM P V) and the scalar reference, plus the decode step over a KV
// cache. Names: BM_attention_<impl>/<Lq>/<Lk>/<D>/<case>, 8 query heads.
//
// FLOP/s counts 4 Lq Lk D per head over visible pairs only (causal: Lq (Lq + 1) / 2 pairs).
// Decode reports bytes/s of K and V read; compare with BM_read_bandwidth/128 (a buffer the
// size of the 16384-key cache at D = 128, 8 heads).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "ctt/attention/decode_attention.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/kernels/softmax.hpp"
#include "ctt/position/alibi.hpp"
#include "ctt/position/t5_bias.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
using matrix = ctt::tensor<float, ctt::shape<dyn, dyn>>;

constexpr index_t heads = 8;

matrix random_matrix(index_t rows, index_t cols, unsigned seed) {
    matrix m(rows, cols);
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist;
    for (float& x : m) {
        x = dist(gen);
    }
    return m;
}

enum class bench_case { plain, causal, alibi, t5, gqa };

const char* case_name(bench_case c) {
    switch (c) {
    case bench_case::plain:
        return "plain";
    case bench_case::causal:
        return "causal";
    case bench_case::alibi:
        return "alibi";
    case bench_case::t5:
        return "t5";
    default:
        return "gqa";
    }
}

/// ALiBi (BLOOM, causal) and T5 (encoder, bidirectional, scale 1) from position/.
struct biases {
    ctt::alibi_bias alibi{heads};
    ctt::tensor<float, ctt::shape<32, heads>> t5_weight = [] {
        ctt::tensor<float, ctt::shape<32, heads>> w;
        std::mt19937 gen(3);
        std::normal_distribution<float> dist;
        for (float& x : w) {
            x = dist(gen);
        }
        return w;
    }();
    ctt::t5_relative_bias t5{ctt::tensor_view<const float, ctt::shape<32, heads>>(t5_weight.view()),
                             true};
};

const biases& shared_biases() {
    static const biases b;
    return b;
}

/// Calls `f(mask, bias, params, kv_heads)` with the policies of a case.
template <class F>
void with_case(bench_case c, F&& f) {
    const auto& b = shared_biases();
    switch (c) {
    case bench_case::plain:
        f(ctt::no_mask{}, ctt::no_bias{}, ctt::attention_params{}, heads);
        break;
    case bench_case::causal:
        f(ctt::causal_mask{}, ctt::no_bias{}, ctt::attention_params{}, heads);
        break;
    case bench_case::alibi:
        f(ctt::causal_mask{}, b.alibi, ctt::attention_params{}, heads);
        break;
    case bench_case::t5:
        f(ctt::no_mask{}, b.t5, ctt::attention_params{}.with_scale(1.0f), heads);
        break;
    default:
        f(ctt::no_mask{}, ctt::no_bias{}, ctt::attention_params{}, index_t{2});
        break;
    }
}

double visible_pairs(bench_case c, index_t lq, index_t lk) {
    if (c == bench_case::causal || c == bench_case::alibi) {
        double n = 0;
        for (index_t i = 0; i < lq; ++i) {
            n += static_cast<double>(std::min(lk, lk - lq + i + 1));
        }
        return n;
    }
    return static_cast<double>(lq) * static_cast<double>(lk);
}

void set_flops(benchmark::State& state, bench_case c, index_t lq, index_t lk, index_t d) {
    state.counters["FLOP/s"] =
        benchmark::Counter(4.0 * visible_pairs(c, lq, lk) * static_cast<double>(d) * heads,
                           benchmark::Counter::kIsIterationInvariantRate);
}

template <index_t D>
void bm_flash(benchmark::State& state, index_t lq, index_t lk, bench_case c) {
    with_case(
        c, [&](const auto& mask, const auto& bias, ctt::attention_params params, index_t kv_heads) {
            const auto q = random_matrix(lq, heads * D, 1);
            const auto k = random_matrix(lk, kv_heads * D, 2);
            const auto v = random_matrix(lk, kv_heads * D, 3);
            matrix out(lq, heads * D);
            for (auto _ : state) {
                ctt::attention_heads<D>(q.view(), k.view(), v.view(), out.view(), mask, bias,
                                        ctt::no_transform{}, params, heads, kv_heads);
                benchmark::DoNotOptimize(out.data());
            }
        });
    set_flops(state, c, lq, lk, D);
}

/// The unfused path: per head, S = scale Q K^T (GEMM), bias and mask per row, softmax_rows,
/// O = P V (GEMM). Materialises the Lq x Lk score matrix.
template <index_t D>
void bm_unfused(benchmark::State& state, index_t lq, index_t lk, bench_case c) {
    with_case(
        c, [&](const auto& mask, const auto& bias, ctt::attention_params params, index_t kv_heads) {
            const auto q = random_matrix(lq, heads * D, 1);
            const auto k = random_matrix(lk, kv_heads * D, 2);
            const auto v = random_matrix(lk, kv_heads * D, 3);
            matrix out(lq, heads * D);
            matrix scores(lq, lk);
            const index_t offset = params.offset_for(lq, lk);
            for (auto _ : state) {
                for (index_t h = 0; h < heads; ++h) {
                    const index_t g = h / (heads / kv_heads);
                    ctt::kernels::gemm(lq, lk, D, q.data() + h * D, heads * D, k.data() + g * D,
                                       kv_heads * D, ctt::kernels::transpose::yes, scores.data(),
                                       lk, params.scale_for(D));
                    using M = std::decay_t<decltype(mask)>;
                    using B = std::decay_t<decltype(bias)>;
                    if constexpr (!ctt::is_no_mask_v<M> || !ctt::is_no_bias_v<B>) {
                        for (index_t i = 0; i < lq; ++i) {
                            bias.add(h, offset + i, 0, lk, scores.data() + i * lk);
                            mask.apply(offset + i, 0, lk, scores.data() + i * lk);
                        }
                    }
                    ctt::softmax_rows(scores.view());
                    ctt::kernels::gemm(lq, D, lk, scores.data(), lk, v.data() + g * D, kv_heads * D,
                                       ctt::kernels::transpose::no, out.data() + h * D, heads * D);
                }
                benchmark::DoNotOptimize(out.data());
            }
        });
    set_flops(state, c, lq, lk, D);
}

template <index_t D>
void bm_reference(benchmark::State& state, index_t lq, index_t lk, bench_case c) {
    with_case(
        c, [&](const auto& mask, const auto& bias, ctt::attention_params params, index_t kv_heads) {
            const auto q = random_matrix(lq, heads * D, 1);
            const auto k = random_matrix(lk, kv_heads * D, 2);
            const auto v = random_matrix(lk, kv_heads * D, 3);
            matrix out(lq, heads * D);
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = q.view();
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = k.view();
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> vc = v.view();
            for (auto _ : state) {
                for (index_t h = 0; h < heads; ++h) {
                    const index_t g = h / (heads / kv_heads);
                    ctt::reference_attention(qc.cols<D>(h * D), kc.cols<D>(g * D),
                                             vc.cols<D>(g * D), out.view().cols<D>(h * D), mask,
                                             bias, ctt::no_transform{}, params, h);
                }
                benchmark::DoNotOptimize(out.data());
            }
        });
    set_flops(state, c, lq, lk, D);
}

/// One decode step over a filled cache (8 KV heads, causal) holding `E` (f32, bf16 or f16),
/// bytes/s of K and V as stored.
template <index_t D, ctt::weight_type E = ctt::weight_type::f32>
void bm_decode(benchmark::State& state, index_t lk) {
    ctt::kv_cache<heads, D, E> cache(lk);
    const auto kv = random_matrix(lk, heads * D, 4);
    cache.append(kv.view(), kv.view());
    const auto q = random_matrix(1, heads * D, 5);
    matrix out(1, heads * D);
    for (auto _ : state) {
        ctt::decode_attention(q.view(), cache, out.view(), ctt::causal_mask{});
        benchmark::DoNotOptimize(out.data());
    }
    // K and V of every head, read once per step.
    state.SetBytesProcessed(
        static_cast<std::int64_t>(state.iterations()) * 2 *
        static_cast<std::int64_t>(lk * heads * D * sizeof(typename decltype(cache)::element_type)));
}

/// "BM_attention_<impl>/<lq>/<lk>/<d>/<case>" (snprintf: GCC 12 warns falsely on string +).
std::string bench_name(const char* impl, index_t lq, index_t lk, index_t d, const char* c) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "BM_attention_%s/%zu/%zu/%zu/%s", impl, lq, lk, d, c);
    return buf;
}

template <index_t D>
void register_all() {
    for (index_t len : {128, 512, 2048}) {
        for (bench_case c : {bench_case::plain, bench_case::causal, bench_case::alibi,
                             bench_case::t5, bench_case::gqa}) {
            benchmark::RegisterBenchmark(bench_name("flash", len, len, D, case_name(c)).c_str(),
                                         [=](benchmark::State& s) { bm_flash<D>(s, len, len, c); })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
            benchmark::RegisterBenchmark(
                bench_name("unfused", len, len, D, case_name(c)).c_str(),
                [=](benchmark::State& s) { bm_unfused<D>(s, len, len, c); })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
            if (len <= 128) {
                benchmark::RegisterBenchmark(
                    bench_name("reference", len, len, D, case_name(c)).c_str(),
                    [=](benchmark::State& s) { bm_reference<D>(s, len, len, c); })
                    ->UseRealTime()
                    ->Unit(benchmark::kMillisecond);
            }
        }
    }
    if constexpr (D == 128) {
        // Long sequences: the unfused path's score matrix (256 MiB per head) no longer fits
        // in cache, the regime flash attention was designed for.
        constexpr index_t len = 8192;
        benchmark::RegisterBenchmark(
            bench_name("flash", len, len, D, "plain").c_str(),
            [=](benchmark::State& s) { bm_flash<D>(s, len, len, bench_case::plain); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(
            bench_name("unfused", len, len, D, "plain").c_str(),
            [=](benchmark::State& s) { bm_unfused<D>(s, len, len, bench_case::plain); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    }
    for (index_t lk : {512, 4096, 16384}) {
        benchmark::RegisterBenchmark(bench_name("flash", 1, lk, D, "decode").c_str(),
                                     [=](benchmark::State& s) { bm_decode<D>(s, lk); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        if constexpr (D == 128) {
            // The same step over caches of half the bytes.
            benchmark::RegisterBenchmark(
                bench_name("flash", 1, lk, D, "decode_bf16").c_str(),
                [=](benchmark::State& s) { bm_decode<D, ctt::weight_type::bf16>(s, lk); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(
                bench_name("flash", 1, lk, D, "decode_f16").c_str(),
                [=](benchmark::State& s) { bm_decode<D, ctt::weight_type::f16>(s, lk); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
}

} // namespace

// The decode reference: a buffer as large as the 16384-key, 8-head, D = 128 cache (128 MiB).
BENCHMARK(ctt::bench::BM_read_bandwidth)->Arg(128)->UseRealTime();

int main(int argc, char** argv) {
    register_all<64>();
    register_all<128>();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
