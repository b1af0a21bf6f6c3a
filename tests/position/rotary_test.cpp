#include <ctt/position/rotary.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
std::vector<float> random_vector(index_t n, unsigned seed) {
    std::vector<float> v(n);
    unsigned s = seed * 2654435761u + 12345u;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
    }
    return v;
}

/// HF's inverse frequency in float32: 1 / float(base^(float(2k) / r)).
float hf_inv_freq(index_t k, index_t r, double base) {
    const float e = static_cast<float>(2 * k) / static_cast<float>(r);
    return 1.0f / static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)),
                                              static_cast<double>(e)));
}

/// Expected rotation of x at position pos, in double from the formula (pairs per layout).
std::vector<double> rotate_expected(const std::vector<float>& x, index_t pos, index_t r,
                                    double base, ctt::rotary_layout layout) {
    std::vector<double> out(x.begin(), x.end());
    for (index_t k = 0; k < r / 2; ++k) {
        const double a = static_cast<double>(static_cast<float>(pos) * hf_inv_freq(k, r, base));
        const index_t i = layout == ctt::rotary_layout::half_split ? k : 2 * k;
        const index_t j = layout == ctt::rotary_layout::half_split ? k + r / 2 : 2 * k + 1;
        out[i] = x[i] * std::cos(a) - x[j] * std::sin(a);
        out[j] = x[j] * std::cos(a) + x[i] * std::sin(a);
    }
    return out;
}

template <class Rotary>
void check_against_formula(index_t dim, index_t r, double base) {
    const Rotary rope(r, 300, base);
    for (index_t pos : {0u, 1u, 2u, 7u, 100u, 299u}) {
        auto x = random_vector(dim, static_cast<unsigned>(pos + dim));
        const auto expect = rotate_expected(x, pos, r, base, Rotary::layout);
        rope.apply(pos, x.data(), dim);
        for (index_t c = 0; c < dim; ++c) {
            REQUIRE(std::abs(x[c] - expect[c]) <= 1e-6);
        }
    }
}
} // namespace

TEST_CASE("tables hold HF's float32 inv_freq and cos/sin of the float angle") {
    const ctt::rotary_half_split rope(64, 2048, 10000.0);
    for (index_t k = 0; k < 32; ++k) {
        CHECK(rope.inv_freq(k) == hf_inv_freq(k, 64, 10000.0));
        // The float32 value agrees with the exact 10000^(-2k/64) to float rounding.
        CHECK(rope.inv_freq(k) ==
              doctest::Approx(std::pow(10000.0, -2.0 * k / 64.0)).epsilon(3e-7));
    }
    for (index_t pos : {0u, 1u, 5u, 511u, 2047u}) {
        for (index_t k = 0; k < 32; ++k) {
            const double a = static_cast<double>(static_cast<float>(pos) * rope.inv_freq(k));
            CHECK(std::abs(rope.cos(pos, k) - std::cos(a)) <= 6e-8);
            CHECK(std::abs(rope.sin(pos, k) - std::sin(a)) <= 6e-8);
        }
    }
    CHECK(rope.cos(0, 3) == 1.0f);
    CHECK(rope.sin(0, 3) == 0.0f);
    CHECK(rope.cos(1, 0) == doctest::Approx(0.5403023059)); // inv_freq 1: angle 1 rad
}

TEST_CASE("apply at pos equals rotating each pair by pos * inv_freq") {
    check_against_formula<ctt::rotary_half_split>(64, 64, 10000.0);
    check_against_formula<ctt::rotary_half_split>(128, 128, 500000.0); // LLaMA 3 theta
    check_against_formula<ctt::rotary_half_split>(6, 6, 10000.0);      // odd half (3)
    check_against_formula<ctt::rotary_half_split>(50, 34, 10000.0);    // SIMD tail
    check_against_formula<ctt::rotary_interleaved>(64, 64, 10000.0);
    check_against_formula<ctt::rotary_interleaved>(256, 64, 10000.0); // GPT-J rotary_dim 64
    check_against_formula<ctt::rotary_interleaved>(10, 6, 1000.0);
}

TEST_CASE("partial rotary leaves the components past rotary_dim untouched") {
    CHECK(ctt::partial_rotary_dim(64, 0.25) == 16);
    CHECK(ctt::partial_rotary_dim(80, 0.25) == 20);
    CHECK(ctt::partial_rotary_dim(96, 0.5) == 48);
    const index_t dim = 40;
    const index_t r = ctt::partial_rotary_dim(dim, 0.25); // 10
    const ctt::rotary_half_split neox(r, 64);
    const ctt::rotary_interleaved gptj(r, 64);
    auto x = random_vector(dim, 3);
    auto y = x;
    const auto before = x;
    neox.apply(17, x.data(), dim);
    gptj.apply(17, y.data(), dim);
    for (index_t c = r; c < dim; ++c) {
        CHECK(x[c] == before[c]);
        CHECK(y[c] == before[c]);
    }
    CHECK(x[0] != before[0]);
    CHECK(y[0] != before[0]);
}

TEST_CASE("decode-style (one token at position t) equals the full-sequence rotation") {
    const index_t heads = 3;
    const index_t d = 24;
    const index_t len = 11;
    const ctt::rotary_half_split rope(16, 32);
    tensor<float, shape<dyn, 72>> full(len);
    for (index_t i = 0; i < full.size(); ++i) {
        full.data()[i] = std::sin(0.37f * static_cast<float>(i));
    }
    tensor<float, shape<dyn, 72>> steps = full;
    rope.apply_to_heads(full.view(), heads, d);
    for (index_t t = 0; t < len; ++t) {
        // A decode step: a [1, H*D] projection whose token sits at position t.
        rope.apply_to_heads(steps.view().rows(t, 1), heads, d, t);
    }
    for (index_t i = 0; i < full.size(); ++i) {
        CHECK(full.data()[i] == steps.data()[i]);
    }
}

TEST_CASE("rotated dot products depend only on the distance; norms are kept") {
    const ctt::rotary_interleaved rope(32, 128);
    const auto q = random_vector(32, 1);
    const auto k = random_vector(32, 2);
    const auto dot_at = [&](index_t m, index_t n) {
        auto a = q;
        auto b = k;
        rope.apply(m, a.data(), 32);
        rope.apply(n, b.data(), 32);
        double s = 0;
        for (index_t c = 0; c < 32; ++c) {
            s += static_cast<double>(a[c]) * b[c];
        }
        return s;
    };
    CHECK(dot_at(10, 3) == doctest::Approx(dot_at(57, 50)).epsilon(1e-4));
    CHECK(dot_at(0, 0) == doctest::Approx(dot_at(99, 99)).epsilon(1e-5));
}

TEST_CASE("interleaved equals half-split on de-interleaved components") {
    const index_t r = 16;
    const ctt::rotary_half_split half(r, 50);
    const ctt::rotary_interleaved inter(r, 50);
    auto x = random_vector(r, 9);
    std::vector<float> y(r);
    for (index_t k = 0; k < r / 2; ++k) {
        y[k] = x[2 * k];
        y[r / 2 + k] = x[2 * k + 1];
    }
    inter.apply(33, x.data(), r);
    half.apply(33, y.data(), r);
    for (index_t k = 0; k < r / 2; ++k) {
        CHECK(x[2 * k] == doctest::Approx(y[k]).epsilon(1e-6));
        CHECK(x[2 * k + 1] == doctest::Approx(y[r / 2 + k]).epsilon(1e-6));
    }
}

TEST_CASE("errors: position past the table, short vectors, odd rotary_dim") {
    const ctt::rotary_half_split rope(8, 4);
    std::vector<float> v(8, 1.0f);
    CHECK_THROWS_AS(rope.apply(4, v.data(), 8), ctt::value_error);
    CHECK_THROWS_AS(rope.apply(0, v.data(), 6), ctt::shape_error);
    CHECK_THROWS_AS(ctt::rotary_interleaved(7, 4), ctt::value_error);
    tensor<float, shape<dyn, 16>> x(5);
    CHECK_THROWS_AS(rope.apply_to_heads(x.view(), 2, 8), ctt::value_error); // 5 tokens > 4
    CHECK_THROWS_AS(rope.apply_to_heads(x.view().rows(0, 2), 3, 8), ctt::shape_error);
}
