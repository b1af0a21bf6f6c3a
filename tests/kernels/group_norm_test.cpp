// Tests of ctt::group_norm / group_norm_silu against the double-precision twin over odd
// channel counts, group counts and planes, with and without affine parameters, and the
// shape errors.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/group_norm.hpp>
#include <ctt/kernels/reference/group_norm.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {

void fill_random(float* p, index_t n, std::uint32_t seed, float offset = 0.f) {
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f + offset;
    }
}

} // namespace

TEST_CASE("group_norm matches the twin over odd sizes, with and without affine parameters") {
    struct size {
        index_t batch, channels, groups, h, w;
    };
    const size sizes[] = {{1, 1, 1, 1, 1},   {2, 6, 3, 5, 7},    {1, 9, 9, 3, 3},
                          {3, 10, 2, 1, 17}, {1, 32, 8, 13, 11}, {2, 64, 32, 9, 33},
                          {1, 15, 5, 40, 40}};
    for (const auto& s : sizes) {
        for (const int affine : {0, 1}) {
            for (const bool silu : {false, true}) {
                CAPTURE(s.channels);
                CAPTURE(s.groups);
                CAPTURE(s.h);
                CAPTURE(affine);
                CAPTURE(silu);
                tensor<float, shape<dyn, dyn, dyn, dyn>> x(s.batch, s.channels, s.h, s.w),
                    y(s.batch, s.channels, s.h, s.w);
                // A large mean: the two-pass variance must not cancel.
                fill_random(x.data(), x.size(), 1, 30.f);
                std::vector<float> gamma(s.channels), beta(s.channels), ref(x.size());
                fill_random(gamma.data(), s.channels, 2);
                fill_random(beta.data(), s.channels, 3);
                const index_t plane = s.h * s.w;
                const float* g = affine ? gamma.data() : nullptr;
                const float* b = affine ? beta.data() : nullptr;
                ctt::kernels::group_norm(s.batch, s.channels, plane, s.groups, x.data(),
                                         s.channels * plane, g, b, 1e-5f, y.data(),
                                         s.channels * plane, silu);
                ctt::kernels::reference::group_norm(s.batch, s.channels, plane, s.groups, x.data(),
                                                    s.channels * plane, g, b, 1e-5f, ref.data(),
                                                    s.channels * plane, silu);
                int bad = 0;
                for (index_t i = 0; i < x.size(); ++i) {
                    // Normalised values are O(1); float statistics over up to 1e4 values.
                    if (!(std::fabs(y.data()[i] - ref[i]) <= 2e-4f * (1.f + std::fabs(ref[i])))) {
                        ++bad;
                    }
                }
                CHECK(bad == 0);
            }
        }
    }
}

TEST_CASE("group_norm on views: affine and plain forms, in place, errors") {
    tensor<float, shape<2, 6, 4, 5>> x;
    fill_random(x.data(), x.size(), 4);
    tensor<float, shape<6>> gamma, beta;
    fill_random(gamma.data(), 6, 5);
    fill_random(beta.data(), 6, 6);
    tensor<float, shape<2, 6, 4, 5>> y, z;
    ctt::group_norm(std::as_const(x).view(), 3, std::as_const(gamma).view(),
                    std::as_const(beta).view(), 1e-6f, y.view());
    std::vector<float> ref(x.size());
    ctt::kernels::reference::group_norm(2, 6, 20, 3, x.data(), 120, gamma.data(), beta.data(),
                                        1e-6f, ref.data(), 120);
    for (index_t i = 0; i < x.size(); ++i) {
        CHECK(y.data()[i] == doctest::Approx(ref[i]).epsilon(1e-4));
    }
    // Without affine parameters, each group has mean 0 and variance 1 / (1 + eps / var).
    ctt::group_norm(std::as_const(x).view(), 2, 1e-6f, z.view());
    for (index_t grp = 0; grp < 4; ++grp) {
        double mean = 0, var = 0;
        for (index_t i = 0; i < 60; ++i) {
            mean += z.data()[grp * 60 + i];
        }
        mean /= 60;
        for (index_t i = 0; i < 60; ++i) {
            var += (z.data()[grp * 60 + i] - mean) * (z.data()[grp * 60 + i] - mean);
        }
        CHECK(std::fabs(mean) < 1e-5);
        CHECK(var / 60 == doctest::Approx(1.0).epsilon(1e-4));
    }
    // In place equals out of place.
    tensor<float, shape<2, 6, 4, 5>> w = x;
    ctt::group_norm_silu(std::as_const(w).view(), 3, std::as_const(gamma).view(),
                         std::as_const(beta).view(), 1e-6f, w.view());
    ctt::group_norm_silu(std::as_const(x).view(), 3, std::as_const(gamma).view(),
                         std::as_const(beta).view(), 1e-6f, z.view());
    CHECK(std::equal(w.data(), w.data() + w.size(), z.data()));

    CHECK_THROWS_WITH_AS(
        ctt::group_norm(std::as_const(x).view(), 4, 1e-6f, z.view()),
        "group_norm: channels and a multiple of the group count differ (6 != 4 * k)",
        ctt::shape_error);
    tensor<float, shape<dyn>> short_gamma(5);
    CHECK_THROWS_AS(ctt::group_norm(std::as_const(x).view(), 3, short_gamma.view(),
                                    short_gamma.view(), 1e-6f, z.view()),
                    ctt::shape_error);
}

TEST_CASE("group_norm does not depend on the thread count") {
    tensor<float, shape<dyn, dyn, dyn, dyn>> x(2, 32, 33, 31), a(2, 32, 33, 31), b(2, 32, 33, 31);
    fill_random(x.data(), x.size(), 7);
    const int threads = ctt::simd::max_threads();
    ctt::simd::set_num_threads(1);
    ctt::group_norm(std::as_const(x).view(), 8, 1e-5f, a.view());
    ctt::simd::set_num_threads(threads > 1 ? threads : 2);
    ctt::group_norm(std::as_const(x).view(), 8, 1e-5f, b.view());
    ctt::simd::set_num_threads(threads);
    CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
}
