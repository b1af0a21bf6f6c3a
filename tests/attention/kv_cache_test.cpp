// The KV cache in bfloat16 and IEEE binary16: rounding on append (after the key transform),
// and attention over it (decode and prefill) equal bit for bit to attention over a float cache
// holding the rounded numbers, over odd head dimensions, lengths, GQA groups, chunks and
// thread counts; the error against a float cache stays within the type's precision.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>

#include "ctt/attention/decode_attention.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/io/half.hpp"
#include "ctt/simd/parallel.hpp"

#include "../support/attention_policies.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
using ctt::weight_type;
using matrix = ctt::tensor<float, ctt::shape<dyn, dyn>>;

matrix random_matrix(index_t rows, index_t cols, unsigned seed, float scale = 1.0f) {
    matrix m(rows, cols);
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    for (float& x : m) {
        x = dist(gen);
    }
    return m;
}

/// `x` rounded to `E` and widened back.
template <weight_type E>
float rounded(float x) {
    if constexpr (E == weight_type::bf16) {
        return ctt::bf16_to_float(ctt::float_to_bf16(x));
    } else {
        return ctt::fp16_to_float(ctt::float_to_fp16(x));
    }
}

template <weight_type E>
matrix rounded(const matrix& m) {
    matrix r(m.rows(), m.cols());
    std::transform(m.begin(), m.end(), r.begin(), [](float x) { return rounded<E>(x); });
    return r;
}

using ctt::test::distance_bias;
using ctt::test::pair_rotation;

bool same_bits(const matrix& a, const matrix& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
               return std::bit_cast<std::uint32_t>(x) == std::bit_cast<std::uint32_t>(y);
           });
}

float max_diff(const matrix& a, const matrix& b) {
    float m = 0.0f;
    for (index_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
    }
    return m;
}

/// Keys and values appended to a cache of type `E` and, rounded, to a float cache, in chunks
/// of `step` rows (so that positions, hence the key transform, run over several appends).
template <index_t Hkv, index_t D, weight_type E>
struct cache_pair {
    ctt::kv_cache<Hkv, D, E> reduced;
    ctt::kv_cache<Hkv, D> exact;     ///< the same rounded numbers, in float
    ctt::kv_cache<Hkv, D> unrounded; ///< the keys and values before rounding

    cache_pair(const matrix& k, const matrix& v, index_t step)
        : reduced(k.rows())
        , exact(k.rows())
        , unrounded(k.rows()) {
        const pair_rotation rotation{0.05f};
        for (index_t r = 0; r < k.rows(); r += step) {
            const index_t n = std::min(step, k.rows() - r);
            const auto kr = k.view().rows(r, n);
            const auto vr = v.view().rows(r, n);
            reduced.append(kr, vr, rotation);
            unrounded.append(kr, vr, rotation);
        }
        // The float twin: every key rotated at its position in float, then rounded.
        matrix kt(k.rows(), Hkv * D);
        for (index_t h = 0; h < Hkv; ++h) {
            for (index_t p = 0; p < k.rows(); ++p) {
                for (index_t d = 0; d < D; ++d) {
                    kt(p, h * D + d) = rounded<E>(unrounded.key(h, p, d));
                }
            }
        }
        const matrix vt = rounded<E>(v);
        exact.append(kt.view(), vt.view());
    }
};

template <index_t D, weight_type E>
void check_head_dim() {
    constexpr index_t Hkv = 2;
    constexpr index_t Hq = 6; // groups of 3 query heads per KV head
    const ctt::attention_params chunked = ctt::attention_params{}.with_decode_chunk(128);
    for (index_t lk : {1, 37, 300}) {
        CAPTURE(lk);
        const auto k = random_matrix(lk, Hkv * D, 11 + static_cast<unsigned>(lk));
        const auto v = random_matrix(lk, Hkv * D, 12 + static_cast<unsigned>(lk));
        const cache_pair<Hkv, D, E> caches(k, v, 16);

        // Rounding: each key after its transform, each value as given.
        for (index_t p = 0; p < lk; p += 7) {
            for (index_t d = 0; d < D; ++d) {
                CHECK(caches.reduced.value(1, p, d) == rounded<E>(v(p, D + d)));
                CHECK(caches.reduced.key(0, p, d) == caches.exact.key(0, p, d));
            }
        }

        // Decode: one query over the cache, with a mask, a bias, a query transform and chunks.
        const auto q = random_matrix(1, Hq * D, 13);
        matrix out_reduced(1, Hq * D);
        matrix out_exact(1, Hq * D);
        matrix out_float(1, Hq * D);
        const auto decode = [&](const auto& cache, matrix& out) {
            ctt::decode_attention(q.view(), cache, out.view(), ctt::causal_mask{}, distance_bias{},
                                  pair_rotation{0.05f}, chunked, Hq);
        };
        decode(caches.reduced, out_reduced);
        decode(caches.exact, out_exact);
        decode(caches.unrounded, out_float);
        CHECK(same_bits(out_reduced, out_exact));
        // Against the unrounded cache: about 4 units of the type's rounding (2^-9 for bf16,
        // 2^-12 for f16, relative) of the largest |v| (~4): measured at most 0.0063 and 0.00083.
        const float tolerance = E == weight_type::bf16 ? 0.016f : 0.002f;
        CHECK(max_diff(out_reduced, out_float) <= tolerance);
        {
            const int threads = ctt::simd::max_threads();
            matrix one_thread(1, Hq * D);
            matrix two_threads(1, Hq * D);
            ctt::simd::set_num_threads(1);
            decode(caches.reduced, one_thread);
            ctt::simd::set_num_threads(2);
            decode(caches.reduced, two_threads);
            ctt::simd::set_num_threads(threads);
            CHECK(same_bits(one_thread, out_reduced));
            CHECK(same_bits(two_threads, out_reduced));
        }

        // Prefill: the last lq positions attend over the cache (one query tile, then several).
        for (index_t lq : {index_t{3}, index_t{200}}) {
            if (lq > lk) {
                continue;
            }
            CAPTURE(lq);
            const auto qs = random_matrix(lq, Hq * D, 14);
            matrix pre_reduced(lq, Hq * D);
            matrix pre_exact(lq, Hq * D);
            const auto prefill = [&](const auto& cache, matrix& out) {
                ctt::attention_heads(qs.view(), cache, out.view(), ctt::causal_mask{},
                                     distance_bias{}, pair_rotation{0.05f}, ctt::attention_params{},
                                     Hq);
            };
            prefill(caches.reduced, pre_reduced);
            prefill(caches.exact, pre_exact);
            CHECK(same_bits(pre_reduced, pre_exact));
        }
    }
}

} // namespace

TEST_CASE_TEMPLATE("kv_cache in bf16 and f16: attention equals attention over the rounded "
                   "numbers, bit for bit",
                   E, std::integral_constant<weight_type, weight_type::bf16>,
                   std::integral_constant<weight_type, weight_type::f16>) {
    // Head dimensions below one register, with a tail, and the common 64 and 128.
    check_head_dim<5, E::value>();
    check_head_dim<24, E::value>();
    check_head_dim<64, E::value>();
    check_head_dim<72, E::value>();
    check_head_dim<128, E::value>();
}

TEST_CASE("kv_cache in bf16: half the bytes, the same checks and views") {
    ctt::kv_cache<2, 8, weight_type::bf16> cache(5);
    static_assert(std::is_same_v<decltype(cache)::element_type, std::uint16_t>);
    CHECK(cache.bytes() == 2 * 2 * 5 * 8 * sizeof(std::uint16_t));
    CHECK(ctt::kv_cache<2, 8>(5).bytes() == 2 * cache.bytes());
    const auto rows = random_matrix(3, 16, 7);
    cache.append(rows.view(), rows.view());
    CHECK(cache.length() == 3);
    CHECK(cache.keys(1).rows() == 3);
    CHECK(cache.keys(1)(2, 3) == ctt::float_to_bf16(rows(2, 8 + 3)));
    CHECK(cache.key(1, 2, 3) == rounded<weight_type::bf16>(rows(2, 8 + 3)));
    CHECK_THROWS_WITH_AS(cache.append(rows.view(), rows.view()),
                         "kv_cache: length after append and capacity differ (6 != 5)",
                         ctt::shape_error);
    CHECK(cache.length() == 3);
    // Infinities and NaN survive the rounding (a model's overflow shows, it is not hidden).
    matrix special(1, 16);
    std::fill(special.begin(), special.end(), 1.0f);
    special(0, 0) = std::numeric_limits<float>::infinity();
    special(0, 1) = std::numeric_limits<float>::quiet_NaN();
    special(0, 2) = 1e30f;
    cache.append(special.view(), special.view());
    CHECK(cache.value(0, 3, 0) == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(cache.value(0, 3, 1)));
    CHECK(cache.value(0, 3, 2) == rounded<weight_type::bf16>(1e30f));
    ctt::kv_cache<1, 4, weight_type::f16> half(1);
    matrix big(1, 4);
    std::fill(big.begin(), big.end(), 1e6f); // beyond binary16's range: infinity
    half.append(big.view(), big.view());
    CHECK(half.value(0, 0, 0) == std::numeric_limits<float>::infinity());
}
