#include <ctt/position/alibi.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using ctt::index_t;

namespace {
/// The paper's slopes in double: 2^(-8 (h+1) / n) for the closest power of two n, then the odd
/// powers of 2^(-8 / 2n) for the remaining heads.
std::vector<double> slopes_formula(index_t heads) {
    index_t n = 1;
    while (2 * n <= heads) {
        n *= 2;
    }
    std::vector<double> s;
    for (index_t h = 0; h < n; ++h) {
        s.push_back(std::pow(2.0, -8.0 * static_cast<double>(h + 1) / static_cast<double>(n)));
    }
    for (index_t m = 0; m < heads - n; ++m) {
        s.push_back(
            std::pow(2.0, -8.0 * static_cast<double>(2 * m + 1) / static_cast<double>(2 * n)));
    }
    return s;
}
} // namespace

TEST_CASE("ALiBi slopes for 1..64 heads follow the formula") {
    for (index_t heads = 1; heads <= 64; ++heads) {
        const auto got = ctt::alibi_slopes(heads);
        const auto expect = slopes_formula(heads);
        REQUIRE(got.size() == heads);
        for (index_t h = 0; h < heads; ++h) {
            // HF rounds the base to float before raising it to the power: up to ~64 half-ulps.
            INFO("heads " << heads << " head " << h);
            REQUIRE(std::abs(got[h] - expect[h]) <= 1e-5 * expect[h]);
        }
    }
}

TEST_CASE("ALiBi slopes: known values") {
    const auto s8 = ctt::alibi_slopes(8);
    for (index_t h = 0; h < 8; ++h) {
        CHECK(s8[h] == static_cast<float>(std::ldexp(1.0, -static_cast<int>(h + 1))));
    }
    const auto s4 = ctt::alibi_slopes(4);
    CHECK(s4 == std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f});
    CHECK(ctt::alibi_slopes(1) == std::vector<float>{0.00390625f});
    // 12 heads: the 8-head slopes, then the odd powers of 2^-0.5 (2^-0.5, 2^-1.5, ...).
    const auto s12 = ctt::alibi_slopes(12);
    CHECK(s12[7] == 1.0f / 256.0f);
    CHECK(s12[8] == doctest::Approx(std::pow(2.0, -0.5)).epsilon(1e-7));
    CHECK(s12[9] == doctest::Approx(std::pow(2.0, -1.5)).epsilon(1e-7));
    CHECK(s12[11] == doctest::Approx(std::pow(2.0, -3.5)).epsilon(1e-7));
    CHECK_THROWS_AS((void)ctt::alibi_slopes(0), ctt::value_error);
}

TEST_CASE("BLOOM form adds slope * key position; symmetric form -slope * |i - j|") {
    const ctt::alibi_bias causal(6);
    const ctt::alibi_symmetric_bias symmetric(6);
    const auto slopes = ctt::alibi_slopes(6);
    for (index_t head = 0; head < 6; ++head) {
        for (index_t q : {0u, 5u, 37u}) {
            std::vector<float> row(41, 1.0f);
            std::vector<float> row2(41, 0.0f);
            causal.add(head, q, 3, 41, row.data());
            symmetric.add(head, q, 3, 41, row2.data());
            for (index_t t = 0; t < 41; ++t) {
                const double k = static_cast<double>(3 + t);
                CHECK(row[t] == doctest::Approx(1.0 + slopes[head] * k).epsilon(1e-6));
                CHECK(row2[t] ==
                      doctest::Approx(-slopes[head] * std::abs(static_cast<double>(q) - k))
                          .epsilon(1e-6));
            }
        }
    }
    // Along a causal row, slope * j and -slope * (i - j) differ by a constant (slope * i).
    std::vector<float> a(10, 0.0f);
    causal.add(2, 9, 0, 10, a.data());
    for (index_t j = 0; j < 10; ++j) {
        CHECK(a[j] - slopes[2] * 9.0f == doctest::Approx(-slopes[2] * static_cast<float>(9 - j)));
    }
}
