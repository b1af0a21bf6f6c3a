// Flash attention, the decode path and the multi-head driver against reference_attention.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/attention/sparse_masks.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/simd/parallel.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;

template <index_t W>
ctt::tensor<float, ctt::shape<dyn, W>> random_rows(index_t n, unsigned seed, float spread = 1.0f) {
    ctt::tensor<float, ctt::shape<dyn, W>> t(n);
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, spread);
    for (float& x : t) {
        x = dist(gen);
    }
    return t;
}

/// An arbitrary per-(head, query, key) bias held as a dense tensor: models score_bias.
struct table_bias {
    std::vector<float> values; // [heads][q_positions][k_positions]
    index_t q_positions = 0;
    index_t k_positions = 0;
    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const float* src = values.data() + (head * q_positions + q_pos) * k_positions + k_begin;
        for (index_t t = 0; t < n; ++t) {
            row[t] += src[t];
        }
    }
};
static_assert(ctt::score_bias<table_bias>);

table_bias make_bias(index_t heads, index_t qp, index_t kp, unsigned seed) {
    table_bias b{std::vector<float>(heads * qp * kp), qp, kp};
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    for (float& x : b.values) {
        x = dist(gen);
    }
    return b;
}

/// A rotary-like transform (a rotation per pair, angle from the position) for Q/K.
struct pair_rotation {
    void apply(index_t pos, float* vec, index_t dim) const {
        for (index_t i = 0; i + 1 < dim; i += 2) {
            const float a = 0.01f * static_cast<float>(pos) * static_cast<float>(i + 1);
            const float c = std::cos(a);
            const float s = std::sin(a);
            const float x = vec[i];
            const float y = vec[i + 1];
            vec[i] = c * x - s * y;
            vec[i + 1] = s * x + c * y;
        }
    }
};

template <class V>
float max_abs(const V& t) {
    float m = 0;
    for (float x : t) {
        m = std::max(m, std::abs(x));
    }
    return m;
}

template <class A, class B>
float max_diff(const A& a, const B& b) {
    float m = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
    }
    return m;
}

/// Runs flash (one head) and the reference on fresh random data; returns the max error.
template <index_t D, class M, class B = ctt::no_bias, class QT = ctt::no_transform>
void check_single_head(index_t lq, index_t lk, const M& mask, const B& bias = {}, const QT& qt = {},
                       ctt::attention_params params = {}) {
    auto q = random_rows<D>(lq, 1 + static_cast<unsigned>(lq * 7 + lk));
    auto k = random_rows<D>(lk, 2 + static_cast<unsigned>(lq + lk * 3));
    auto v = random_rows<D>(lk, 3 + static_cast<unsigned>(lq * lk));
    ctt::tensor<float, ctt::shape<dyn, D>> out(lq);
    ctt::tensor<float, ctt::shape<dyn, D>> ref(lq);
    out.fill(12345.0f);
    ctt::flash_attention(q.view(), k.view(), v.view(), out.view(), mask, bias, qt, params);
    // K is the caller's job in flash: transform a copy for it; the reference does both.
    ctt::reference_attention(q.view(), k.view(), v.view(), ref.view(), mask, bias, qt, params, 0,
                             qt);
    if constexpr (!ctt::is_no_transform_v<QT>) {
        auto kt = k;
        for (index_t j = 0; j < lk; ++j) {
            qt.apply(j, &kt(j, 0), D);
        }
        ctt::flash_attention(q.view(), kt.view(), v.view(), out.view(), mask, bias, qt, params);
    }
    INFO("lq=" << lq << " lk=" << lk << " D=" << D);
    CHECK(max_diff(out, ref) <= 2e-5f * std::max(1.0f, max_abs(ref)));
}

// 200 and 401 span two and three query tiles of the kernel (the last one partial), which is
// where each thread packs a head's keys and values once for all its tiles.
const index_t lengths[] = {1, 3, 17, 33, 64, 127, 130, 200, 401};

template <class M>
void sweep_mask(const M& mask) {
    for (index_t lq : lengths) {
        for (index_t lk : lengths) {
            if (lq > lk) {
                continue;
            }
            check_single_head<64>(lq, lk, mask);
        }
    }
    check_single_head<16>(33, 70, mask);
    check_single_head<128>(65, 129, mask);
    check_single_head<8>(20, 20, mask);
    check_single_head<80>(19, 77, mask);
}

} // namespace

TEST_CASE("flash matches the reference without a mask, over odd lengths and head dims") {
    sweep_mask(ctt::no_mask{});
    check_single_head<64>(130, 17, ctt::no_mask{}); // Lq > Lk (cross-attention)
}

TEST_CASE("flash matches the reference for every mask") {
    SUBCASE("causal") {
        sweep_mask(ctt::causal_mask{});
    }
    SUBCASE("padding by length") {
        sweep_mask(ctt::key_padding_mask{29});
    }
    SUBCASE("sliding window") {
        sweep_mask(ctt::sliding_window_mask{5});
    }
    SUBCASE("symmetric window") {
        sweep_mask(ctt::symmetric_window_mask{9});
    }
    SUBCASE("strided sparse") {
        sweep_mask(ctt::strided_sparse_mask{7});
    }
    SUBCASE("fixed sparse") {
        sweep_mask(ctt::fixed_sparse_mask{16, 3});
    }
    SUBCASE("dalle row / column / conv") {
        sweep_mask(ctt::dalle_mask{ctt::dalle_pattern::row, 11, 11});
        sweep_mask(ctt::dalle_mask{ctt::dalle_pattern::column, 11, 11});
        sweep_mask(ctt::dalle_mask{ctt::dalle_pattern::full, 11, 11});
        sweep_mask(ctt::dalle_mask{ctt::dalle_pattern::convolutional, 11, 11, 5, 2});
    }
    SUBCASE("padding flags combined with causal") {
        std::vector<std::uint8_t> flags(130, 1);
        for (index_t j = 0; j < flags.size(); j += 3) {
            flags[j] = 0;
        }
        sweep_mask(ctt::mask_and(ctt::key_padding_mask{flags}, ctt::causal_mask{}));
        sweep_mask(ctt::mask_and(ctt::causal_mask{}, ctt::sliding_window_mask{40}));
    }
}

TEST_CASE("fully masked rows give zeros") {
    // Padding at length 0 hides everything; a window of 0 hides everything too.
    check_single_head<32>(17, 40, ctt::key_padding_mask{0});
    check_single_head<32>(17, 40, ctt::sliding_window_mask{0});
    auto q = random_rows<32>(5, 1);
    auto k = random_rows<32>(9, 2);
    ctt::tensor<float, ctt::shape<dyn, 32>> out(5);
    out.fill(1.0f);
    ctt::flash_attention(q.view(), k.view(), k.view(), out.view(), ctt::key_padding_mask{0});
    CHECK(max_abs(out) == 0.0f);
}

TEST_CASE("flash matches the reference with an arbitrary bias tensor, scales and a Q/K transform") {
    for (index_t lq : {1, 17, 70, 250}) {
        for (index_t lk : {70, 131, 300}) {
            if (lq > lk) {
                continue;
            }
            const auto bias = make_bias(1, lk, lk, 5);
            check_single_head<64>(lq, lk, ctt::no_mask{}, bias);
            check_single_head<64>(lq, lk, ctt::causal_mask{}, bias, ctt::no_transform{},
                                  ctt::attention_params{}.with_scale(1.0f));
            check_single_head<64>(lq, lk, ctt::causal_mask{}, ctt::no_bias{}, pair_rotation{},
                                  ctt::attention_params{}.with_scale(0.07f));
        }
    }
}

TEST_CASE("attention_heads: GQA, bias per head, padding; identical for 1 and 2 threads") {
    constexpr index_t D = 32;
    const index_t hq = 6;
    for (index_t hkv : {1, 2, 3, 6}) {
        for (index_t lq : {1, 5, 70, 250}) {
            const index_t lk = lq + 20;
            ctt::tensor<float, ctt::shape<dyn, dyn>> qm(lq, hq * D);
            ctt::tensor<float, ctt::shape<dyn, dyn>> km(lk, hkv * D);
            ctt::tensor<float, ctt::shape<dyn, dyn>> vm(lk, hkv * D);
            std::mt19937 gen(static_cast<unsigned>(hkv * 100 + lq));
            std::normal_distribution<float> dist;
            for (auto* t : {&qm, &km, &vm}) {
                for (float& x : *t) {
                    x = dist(gen);
                }
            }
            const auto bias = make_bias(hq, lk, lk, 9);
            const auto mask = ctt::mask_and(ctt::key_padding_mask{lk - 13}, ctt::causal_mask{});
            ctt::tensor<float, ctt::shape<dyn, dyn>> out1(lq, hq * D);
            ctt::tensor<float, ctt::shape<dyn, dyn>> out2(lq, hq * D);
            ctt::simd::set_num_threads(1);
            ctt::attention_heads<D>(qm.view(), km.view(), vm.view(), out1.view(), mask, bias,
                                    ctt::no_transform{},
                                    ctt::attention_params{}.with_decode_chunk(16), hq, hkv);
            ctt::simd::set_num_threads(2);
            ctt::attention_heads<D>(qm.view(), km.view(), vm.view(), out2.view(), mask, bias,
                                    ctt::no_transform{},
                                    ctt::attention_params{}.with_decode_chunk(16), hq, hkv);
            INFO("hkv=" << hkv << " lq=" << lq);
            CHECK(std::equal(out1.begin(), out1.end(), out2.begin()));
            // Every head against the reference on column-block views.
            for (index_t h = 0; h < hq; ++h) {
                const index_t g = h / (hq / hkv);
                ctt::tensor<float, ctt::shape<dyn, D>> ref(lq);
                ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = qm.view();
                ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = km.view();
                ctt::tensor_view<const float, ctt::shape<dyn, dyn>> vc = vm.view();
                ctt::reference_attention(qc.cols<D>(h * D), kc.cols<D>(g * D), vc.cols<D>(g * D),
                                         ref.view(), mask, bias, ctt::no_transform{}, {}, h);
                const auto got = out1.view().cols<D>(h * D);
                float err = 0;
                for (index_t i = 0; i < lq; ++i) {
                    for (index_t c = 0; c < D; ++c) {
                        err = std::max(err, std::abs(got(i, c) - ref(i, c)));
                    }
                }
                CHECK(err <= 2e-5f * std::max(1.0f, max_abs(ref)));
            }
        }
    }
}

TEST_CASE("a second call over the same buffers with new keys sees the new keys") {
    // Each thread keeps its workspace, and the packed keys of a head, between calls: the
    // packing must not be reused because the address is the same.
    constexpr index_t D = 32;
    const index_t heads = 2;
    const index_t len = 300; // two query tiles: the packed path
    ctt::tensor<float, ctt::shape<dyn, dyn>> q(len, heads * D);
    ctt::tensor<float, ctt::shape<dyn, dyn>> k(len, heads * D);
    ctt::tensor<float, ctt::shape<dyn, dyn>> out(len, heads * D);
    std::mt19937 gen(5);
    std::normal_distribution<float> dist;
    for (auto* t : {&q, &k}) {
        for (float& x : *t) {
            x = dist(gen);
        }
    }
    for (int call = 0; call < 2; ++call) {
        ctt::attention_heads<D>(q.view(), k.view(), k.view(), out.view(), ctt::causal_mask{},
                                ctt::no_bias{}, ctt::no_transform{}, {}, heads, heads);
        ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = q.view();
        ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = k.view();
        for (index_t h = 0; h < heads; ++h) {
            ctt::tensor<float, ctt::shape<dyn, D>> ref(len);
            ctt::reference_attention(qc.cols<D>(h * D), kc.cols<D>(h * D), kc.cols<D>(h * D),
                                     ref.view(), ctt::causal_mask{});
            float err = 0;
            for (index_t i = 0; i < len; ++i) {
                for (index_t c = 0; c < D; ++c) {
                    err = std::max(err, std::abs(out(i, h * D + c) - ref(i, c)));
                }
            }
            INFO("call " << call << " head " << h);
            CHECK(err <= 2e-5f * std::max(1.0f, max_abs(ref)));
        }
        for (float& x : k) {
            x = -0.5f * x + 0.25f;
        }
    }
}
