#include <ctt/position/sinusoidal.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
/// Vaswani's angle of column j at position p, in double: p / 10000^(2 * (j / 2) / d).
double angle(double p, index_t j, index_t d) {
    return p / std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(d));
}
} // namespace

TEST_CASE("Vaswani table, interleaved (DistilBERT): even columns sin, odd columns cos") {
    for (index_t d : {4u, 6u, 7u, 64u}) {
        tensor<float, shape<dyn, dyn>> t(40, d);
        ctt::sinusoidal_table(t.view(), ctt::sinusoid_layout::interleaved);
        for (index_t p = 0; p < 40; ++p) {
            for (index_t j = 0; j < d; ++j) {
                const double a = angle(static_cast<double>(p), j, d);
                const double expect = j % 2 == 0 ? std::sin(a) : std::cos(a);
                REQUIRE(std::abs(t(p, j) - expect) <= 1e-7);
            }
        }
    }
    tensor<float, shape<2, 4>> small;
    ctt::sinusoidal_table(small.view(), ctt::sinusoid_layout::interleaved);
    CHECK(small(0, 0) == 0.0f);
    CHECK(small(0, 1) == 1.0f);
    CHECK(small(1, 0) == doctest::Approx(0.8414709848)); // sin(1)
    CHECK(small(1, 1) == doctest::Approx(0.5403023059)); // cos(1)
    CHECK(small(1, 2) == doctest::Approx(0.0099998333)); // sin(1/100)
    CHECK(small(1, 3) == doctest::Approx(0.9999500004)); // cos(1/100)
}

TEST_CASE("Vaswani table, halves (Marian): ceil(d/2) sines then the cosines") {
    for (index_t d : {4u, 5u, 8u, 33u}) {
        tensor<float, shape<dyn, dyn>> t(30, d);
        ctt::sinusoidal_table(t.view(), ctt::sinusoid_layout::halves, 3);
        const index_t sentinel = d % 2 == 0 ? d / 2 : d / 2 + 1;
        for (index_t p = 0; p < 30; ++p) {
            const double pos = static_cast<double>(p + 3);
            for (index_t c = 0; c < sentinel; ++c) {
                REQUIRE(std::abs(t(p, c) - std::sin(angle(pos, 2 * c, d))) <= 1e-7);
            }
            for (index_t c = sentinel; c < d; ++c) {
                REQUIRE(std::abs(t(p, c) - std::cos(angle(pos, 2 * (c - sentinel) + 1, d))) <=
                        1e-7);
            }
        }
    }
}

TEST_CASE("float32 [sin | cos] table (CTRL, Transformer-XL)") {
    const index_t d = 16;
    tensor<float, shape<dyn, 16>> t(50);
    ctt::sinusoidal_table_f32(t.view());
    for (index_t p = 0; p < 50; ++p) {
        for (index_t k = 0; k < d / 2; ++k) {
            // The float32 angle differs from the double one by at most pos * 2^-23.
            const double a = angle(static_cast<double>(p), 2 * k, d);
            REQUIRE(std::abs(t(p, k) - std::sin(a)) <= 1e-5);
            REQUIRE(std::abs(t(p, d / 2 + k) - std::cos(a)) <= 1e-5);
            // And exactly as PyTorch forms it: float exponent, float power, float reciprocal.
            const float e = static_cast<float>(2 * k) / static_cast<float>(d);
            const float inv = 1.0f / static_cast<float>(std::pow(10000.0, static_cast<double>(e)));
            const float fa = static_cast<float>(p) * inv;
            REQUIRE(std::abs(t(p, k) - std::sin(static_cast<double>(fa))) <= 6e-8);
        }
    }
    CHECK(ctt::sinusoid_inv_freq_f32(0, 16) == 1.0f);
    CHECK(ctt::sinusoid_inv_freq_f32(4, 16) == doctest::Approx(0.01).epsilon(1e-6));
}

TEST_CASE("fairseq table (M2M100, FSMT): step log(10000)/(d/2 - 1), padding row zero") {
    tensor<float, shape<dyn, 7>> t(20); // odd width: a zero last column
    ctt::fairseq_sinusoidal_table(t.view(), index_t{1});
    const index_t half = 3;
    for (index_t p = 0; p < 20; ++p) {
        for (index_t k = 0; k < half; ++k) {
            const double f = std::exp(-static_cast<double>(k) * std::log(10000.0) / 2.0);
            const double expect_sin = p == 1 ? 0.0 : std::sin(static_cast<double>(p) * f);
            const double expect_cos = p == 1 ? 0.0 : std::cos(static_cast<double>(p) * f);
            REQUIRE(std::abs(t(p, k) - expect_sin) <= 1e-5);
            REQUIRE(std::abs(t(p, half + k) - expect_cos) <= 1e-5);
        }
        CHECK(t(p, 6) == 0.0f);
    }
    // k = 2: frequency 1/10000 exactly in the formula.
    CHECK(t(5, 2) == doctest::Approx(std::sin(5e-4)).epsilon(1e-5));
}

TEST_CASE("Transformer-XL / XLNet relative sinusoids: descending distances, clamp") {
    const index_t klen = 9;
    tensor<float, shape<dyn, 8>> r(klen);
    ctt::xl_relative_positions(r.view(), static_cast<std::ptrdiff_t>(klen) - 1);
    tensor<float, shape<dyn, 8>> ascending(klen);
    ctt::sinusoidal_table_f32(ascending.view());
    for (index_t row = 0; row < klen; ++row) {
        for (index_t c = 0; c < 8; ++c) {
            CHECK(r(row, c) == ascending(klen - 1 - row, c));
        }
    }
    CHECK(r(klen - 1, 0) == 0.0f); // distance 0: sin 0
    CHECK(r(klen - 1, 4) == 1.0f); // cos 0

    // XLNet bidirectional: distances klen .. -qlen+1, clamped to +-3.
    const index_t qlen = 4;
    tensor<float, shape<dyn, 8>> bi(klen + qlen);
    ctt::xl_relative_positions(bi.view(), static_cast<std::ptrdiff_t>(klen), 3);
    for (index_t row = 0; row < klen + qlen; ++row) {
        std::ptrdiff_t dist = static_cast<std::ptrdiff_t>(klen) - static_cast<std::ptrdiff_t>(row);
        dist = std::max<std::ptrdiff_t>(-3, std::min<std::ptrdiff_t>(3, dist));
        for (index_t k = 0; k < 4; ++k) {
            const double a = static_cast<double>(dist) * ctt::sinusoid_inv_freq_f32(k, 8);
            REQUIRE(std::abs(bi(row, k) - std::sin(a)) <= 1e-6);
            REQUIRE(std::abs(bi(row, 4 + k) - std::cos(a)) <= 1e-6);
        }
    }
}
