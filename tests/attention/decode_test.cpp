// The decode path and the KV cache: token-by-token decoding equals full causal attention,
// split equals unsplit, thread count does not change a bit, capacity is enforced.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ctt/attention/decode_attention.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/simd/parallel.hpp"

#include "../support/attention_policies.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
using matrix = ctt::tensor<float, ctt::shape<dyn, dyn>>;

matrix random_matrix(index_t rows, index_t cols, unsigned seed) {
    matrix m(rows, cols);
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist;
    for (float& x : m) {
        x = dist(gen);
    }
    return m;
}

using ctt::test::distance_bias;
using ctt::test::pair_rotation;

float max_diff(const float* a, const float* b, index_t n) {
    float m = 0;
    for (index_t i = 0; i < n; ++i) {
        m = std::max(m, std::abs(a[i] - b[i]));
    }
    return m;
}

} // namespace

TEST_CASE("decoding token by token through the cache equals full causal attention") {
    constexpr index_t D = 64;
    constexpr index_t hkv = 2;
    const index_t hq = 4;
    const index_t prompt = 37;
    const index_t total = 150;
    const auto q = random_matrix(total, hq * D, 1);
    const auto k = random_matrix(total, hkv * D, 2);
    const auto v = random_matrix(total, hkv * D, 3);
    const pair_rotation rot;
    const distance_bias bias;

    // Full causal attention with the keys transformed up front.
    matrix kt = k;
    for (index_t j = 0; j < total; ++j) {
        for (index_t g = 0; g < hkv; ++g) {
            rot.apply(j, &kt(j, g * D), D);
        }
    }
    matrix full(total, hq * D);
    ctt::attention_heads<D>(q.view(), kt.view(), v.view(), full.view(), ctt::causal_mask{}, bias,
                            rot, {}, hq, hkv);

    ctt::kv_cache<hkv, D> cache(total);
    matrix step(total, hq * D);
    // Prefill: the prompt in one call, then one token at a time with the cache.
    cache.append(k.view().rows(0, prompt), v.view().rows(0, prompt), rot);
    ctt::attention_heads(q.view().rows(0, prompt), cache, step.view().rows(0, prompt),
                         ctt::causal_mask{}, bias, rot, {}, hq);
    for (index_t t = prompt; t < total; ++t) {
        cache.append(k.view().rows(t, 1), v.view().rows(t, 1), rot);
        ctt::decode_attention(q.view().rows(t, 1), cache, step.view().rows(t, 1),
                              ctt::causal_mask{}, bias, rot,
                              ctt::attention_params{}.with_decode_chunk(32), hq);
    }
    CHECK(cache.length() == total);
    CHECK(max_diff(full.data(), step.data(), full.size()) <= 2e-5f);

    // And the reference, head 3 (KV head 1).
    ctt::tensor<float, ctt::shape<dyn, D>> ref(total);
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = q.view();
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = k.view();
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> vc = v.view();
    ctt::reference_attention(qc.cols<D>(3 * D), kc.cols<D>(D), vc.cols<D>(D), ref.view(),
                             ctt::causal_mask{}, bias, rot, {}, 3, rot);
    float err = 0;
    for (index_t i = 0; i < total; ++i) {
        for (index_t c = 0; c < D; ++c) {
            err = std::max(err, std::abs(step(i, 3 * D + c) - ref(i, c)));
        }
    }
    CHECK(err <= 2e-5f);
}

TEST_CASE("decode: split equals unsplit; 1 and 2 threads agree bit for bit") {
    constexpr index_t D = 128;
    const index_t hq = 8;
    for (index_t hkv : {1, 2, 8}) {
        for (index_t lk : {1, 63, 1000, 2500}) {
            const auto q = random_matrix(1, hq * D, 4);
            const auto k = random_matrix(lk, hkv * D, 5);
            const auto v = random_matrix(lk, hkv * D, 6);
            matrix whole(1, hq * D);
            matrix split1(1, hq * D);
            matrix split2(1, hq * D);
            const auto mask = ctt::key_padding_mask{lk > 10 ? lk - 7 : lk};
            ctt::decode_attention<D>(q.view(), k.view(), v.view(), whole.view(), mask,
                                     ctt::no_bias{}, ctt::no_transform{},
                                     ctt::attention_params{}.with_decode_chunk(0), hq, hkv);
            ctt::simd::set_num_threads(1);
            ctt::decode_attention<D>(q.view(), k.view(), v.view(), split1.view(), mask,
                                     ctt::no_bias{}, ctt::no_transform{},
                                     ctt::attention_params{}.with_decode_chunk(256), hq, hkv);
            ctt::simd::set_num_threads(2);
            ctt::decode_attention<D>(q.view(), k.view(), v.view(), split2.view(), mask,
                                     ctt::no_bias{}, ctt::no_transform{},
                                     ctt::attention_params{}.with_decode_chunk(256), hq, hkv);
            INFO("hkv=" << hkv << " lk=" << lk);
            CHECK(std::equal(split1.begin(), split1.end(), split2.begin()));
            CHECK(max_diff(whole.data(), split1.data(), whole.size()) <= 1e-5f);
            // Head 5 against the reference.
            ctt::tensor<float, ctt::shape<dyn, D>> ref(1);
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = q.view();
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = k.view();
            ctt::tensor_view<const float, ctt::shape<dyn, dyn>> vc = v.view();
            const index_t g = 5 / (hq / hkv);
            ctt::reference_attention(qc.cols<D>(5 * D), kc.cols<D>(g * D), vc.cols<D>(g * D),
                                     ref.view(), mask);
            CHECK(max_diff(&split2(0, 5 * D), ref.data(), D) <= 2e-5f);
        }
    }
}

TEST_CASE("kv_cache: capacity, views, reset") {
    ctt::kv_cache<2, 8> cache(5);
    const auto rows = random_matrix(3, 16, 7);
    cache.append(rows.view(), rows.view());
    CHECK(cache.length() == 3);
    CHECK(cache.keys(1)(2, 3) == rows(2, 8 + 3));
    CHECK(cache.values(0).rows() == 3);
    // Appending 3 more would hold 6 > 5: refused before writing anything.
    CHECK_THROWS_WITH_AS(cache.append(rows.view(), rows.view()),
                         "kv_cache: length after append and capacity differ (6 != 5)",
                         ctt::shape_error);
    CHECK(cache.length() == 3);
    const auto wide = random_matrix(1, 24, 8);
    CHECK_THROWS_AS(cache.append(wide.view(), wide.view()), ctt::shape_error);
    cache.reset();
    CHECK(cache.length() == 0);
    cache.append(rows.view().rows(0, 2), rows.view().rows(0, 2));
    CHECK(cache.length() == 2);

    ctt::layered_kv_cache<3, 2, 8> layers(4);
    layers[2].append(rows.view().rows(0, 1), rows.view().rows(0, 1));
    CHECK(layers[2].length() == 1);
    CHECK_THROWS_AS((void)layers[3], ctt::shape_error);
}
