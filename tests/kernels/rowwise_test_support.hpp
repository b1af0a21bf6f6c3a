#pragma once
// Helpers shared by the row-wise kernel tests: deterministic data, odd widths, tolerances.

#include <ctt/core/tensor.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>

namespace ctt_test {

/// Row widths that exercise empty, partial and several full registers plus a tail.
inline constexpr ctt::index_t odd_widths[] = {1, 3, 17, 33, 127, 1000};

/// A rows x width tensor of uniform values in [lo, hi), seeded by the shape.
inline ctt::tensor<float, ctt::shape<ctt::dyn, ctt::dyn>>
random_matrix(ctt::index_t rows, ctt::index_t width, float lo = -4.f, float hi = 4.f,
              std::uint32_t seed = 1) {
    ctt::tensor<float, ctt::shape<ctt::dyn, ctt::dyn>> t(rows, width);
    std::mt19937 gen(seed * 7919u + static_cast<std::uint32_t>(rows * 131 + width));
    std::uniform_real_distribution<float> dist(lo, hi);
    for (auto& v : t) {
        v = dist(gen);
    }
    return t;
}

/// Checks |got - want| <= atol + rtol |want| elementwise over two same-shape views.
template <class VA, class VB>
void check_close(const VA& got, const VB& want, double atol, double rtol) {
    REQUIRE(got.rows() == want.rows());
    REQUIRE(got.cols() == want.cols());
    double worst = 0;
    for (ctt::index_t r = 0; r < got.rows(); ++r) {
        for (ctt::index_t c = 0; c < got.cols(); ++c) {
            const double g = got(r, c);
            const double w = want(r, c);
            const double excess = std::abs(g - w) - (atol + rtol * std::abs(w));
            if (!(excess <= 0)) {
                INFO("row " << r << " col " << c << ": got " << g << " want " << w);
                CHECK(excess <= 0);
                return;
            }
            worst = std::max(worst, std::abs(g - w));
        }
    }
}

} // namespace ctt_test
