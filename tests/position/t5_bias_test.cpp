#include <ctt/position/t5_bias.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
/// HF's `_relative_position_bucket`, transcribed step by step (float32 like PyTorch).
long bucket_formula(long rel, bool bidirectional, long num_buckets, long max_distance) {
    long out = 0;
    if (bidirectional) {
        num_buckets /= 2;
        out += rel > 0 ? num_buckets : 0;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    const long max_exact = num_buckets / 2;
    if (rel < max_exact) {
        return out + rel;
    }
    const float x = static_cast<float>(rel) / static_cast<float>(max_exact);
    const float lx = std::log(x);
    const auto denom = static_cast<float>(
        std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
    long large =
        max_exact + static_cast<long>(lx / denom * static_cast<float>(num_buckets - max_exact));
    large = large < num_buckets - 1 ? large : num_buckets - 1;
    return out + large;
}

struct setting {
    index_t buckets;
    index_t max_distance;
    bool bidirectional;
};
} // namespace

TEST_CASE("bucket of every distance in -300..300 matches the formula") {
    const setting settings[] = {{32, 128, true},   {32, 128, false}, {16, 64, true},
                                {8, 20, false},    {64, 256, true},  {10, 7, true},
                                {128, 128, false}, {6, 50, true}};
    for (const auto& s : settings) {
        for (long rel = -300; rel <= 300; ++rel) {
            INFO("buckets " << s.buckets << " max_distance " << s.max_distance << " bidirectional "
                            << s.bidirectional << " rel " << rel);
            REQUIRE(static_cast<long>(ctt::t5_relative_position_bucket(
                        rel, s.bidirectional, s.buckets, s.max_distance)) ==
                    bucket_formula(rel, s.bidirectional, static_cast<long>(s.buckets),
                                   static_cast<long>(s.max_distance)));
        }
    }
}

TEST_CASE("bucket known values (T5 defaults: 32 buckets, max distance 128)") {
    const auto bi = [](long r) { return ctt::t5_relative_position_bucket(r, true, 32, 128); };
    const auto causal = [](long r) { return ctt::t5_relative_position_bucket(r, false, 32, 128); };
    CHECK(bi(0) == 0);
    CHECK(bi(-1) == 1);
    CHECK(bi(1) == 17);
    CHECK(bi(-7) == 7);
    CHECK(bi(-8) == 8);   // log(1) = 0
    CHECK(bi(-12) == 9);  // 8 + trunc(log(1.5) / log(16) * 8) = 8 + 1
    CHECK(bi(-20) == 10); // 8 + trunc(2.64)
    CHECK(bi(-50) == 13); // 8 + trunc(5.29)
    CHECK(bi(50) == 29);
    CHECK(bi(-100) == 15);
    CHECK(bi(-1000) == 15);
    CHECK(bi(1000) == 31);
    CHECK(causal(5) == 0);
    CHECK(causal(-15) == 15);
    CHECK(causal(-16) == 16);
    CHECK(causal(-40) == 23); // 16 + trunc(log(2.5) / log(8) * 16) = 16 + 7
    CHECK(causal(-200) == 31);
}

TEST_CASE("add() gathers weight[bucket(k - q), head] for every key, far keys included") {
    const index_t nb = 32;
    const index_t heads = 5;
    tensor<float, shape<32, 5>> w;
    for (index_t i = 0; i < w.size(); ++i) {
        w.data()[i] = std::cos(0.7f * static_cast<float>(i)) + 0.01f * static_cast<float>(i);
    }
    for (bool bidirectional : {true, false}) {
        const ctt::t5_relative_bias bias(w.view(), bidirectional, 128);
        CHECK(bias.num_buckets() == nb);
        CHECK(bias.num_heads() == heads);
        for (index_t head = 0; head < heads; ++head) {
            for (index_t q : {0u, 1u, 17u, 150u, 600u}) {
                for (index_t k_begin : {0u, 5u, 300u}) {
                    const index_t n = 700 - k_begin;
                    std::vector<float> row(n, 0.5f);
                    bias.add(head, q, k_begin, n, row.data());
                    for (index_t t = 0; t < n; ++t) {
                        const long rel = static_cast<long>(k_begin + t) - static_cast<long>(q);
                        const auto b =
                            static_cast<index_t>(bucket_formula(rel, bidirectional, 32, 128));
                        REQUIRE(row[t] == 0.5f + w(b, head));
                    }
                }
            }
        }
        // Short rows, odd sizes, n = 0.
        std::vector<float> one(3, 0.0f);
        bias.add(1, 4, 4, 3, one.data());
        CHECK(one[0] == w(0, 1));
        bias.add(1, 4, 4, 0, one.data());
    }
}
