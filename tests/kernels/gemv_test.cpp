// Tests of ctt::gemv / kernels::gemv against the scalar twin. Tolerance as in gemm_test.cpp:
// |y - ref| <= 2 (K + 2) eps (|alpha| sum_k |a_ik x_k| + |bias_i| + |y0_i|) (Higham, 3.1).
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/gemv.hpp>
#include <ctt/kernels/reference/gemm.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {

void fill_random(float* p, index_t n, std::uint32_t seed) {
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
    }
}

int check_gemv(index_t m, index_t k, index_t lda, float alpha, bool accumulate, bool with_bias) {
    std::vector<float> a(m * lda + 1), x(k + 1), bias(m + 1), y0(m + 1);
    fill_random(a.data(), a.size(), 1);
    fill_random(x.data(), x.size(), 2);
    fill_random(bias.data(), bias.size(), 3);
    fill_random(y0.data(), y0.size(), 4);
    std::vector<float> y = y0, ref = y0;
    const float* b = with_bias ? bias.data() : nullptr;
    ctt::kernels::gemv(m, k, a.data(), lda, x.data(), y.data(), alpha, accumulate, b);
    ctt::kernels::reference::gemv(m, k, a.data(), lda, x.data(), ref.data(), alpha, accumulate, b);
    const float eps = std::numeric_limits<float>::epsilon();
    int failures = 0;
    for (index_t i = 0; i < m; ++i) {
        float magnitude = 0.f;
        for (index_t p = 0; p < k; ++p) {
            magnitude += std::fabs(a[i * lda + p] * x[p]);
        }
        magnitude = std::fabs(alpha) * magnitude + (with_bias ? std::fabs(bias[i]) : 0.f) +
                    (accumulate ? std::fabs(y0[i]) : 0.f);
        const float tol = 2.f * static_cast<float>(k + 2) * eps * magnitude;
        if (!(std::fabs(y[i] - ref[i]) <= tol)) {
            ++failures;
        }
    }
    failures += y[m] != y0[m] ? 1 : 0; // nothing written past the end
    return failures;
}

} // namespace

TEST_CASE("kernels::gemv matches the scalar twin") {
    for (const index_t m : {1, 3, 4, 17, 33, 127, 300}) {
        for (const index_t k : {1, 3, 16, 17, 33, 127, 768}) {
            CAPTURE(m);
            CAPTURE(k);
            CHECK(check_gemv(m, k, k, 1.f, false, false) == 0);
            CHECK(check_gemv(m, k, k + 5, -0.5f, true, true) == 0);
            CHECK(check_gemv(m, k, k + 16, 2.f, false, true) == 0);
        }
    }
    CHECK(check_gemv(2100, 2000, 2000, 1.f, true, false) == 0); // past 4M floats: parallel
}

TEST_CASE("gemv on views, strided rows, and shape errors") {
    tensor<float, shape<dyn, 40>> wide(9);
    tensor<float, shape<32>> x;
    tensor<float, shape<dyn>> y(9);
    fill_random(wide.data(), wide.size(), 5);
    fill_random(x.data(), x.size(), 6);
    const auto a = std::as_const(wide).view().cols<32>(8);
    ctt::gemv(a, x.view(), y.view(), {0.5f, false});
    std::vector<float> ref(9);
    ctt::kernels::reference::gemv(9, 32, wide.data() + 8, 40, x.data(), ref.data(), 0.5f);
    for (index_t i = 0; i < 9; ++i) {
        CHECK(std::fabs(y(i) - ref[i]) <= 1e-5f);
    }

    tensor<float, shape<dyn>> bias(9);
    fill_random(bias.data(), bias.size(), 7);
    ctt::gemv(a, x.view(), bias.view(), y.view());
    ctt::kernels::reference::gemv(9, 32, wide.data() + 8, 40, x.data(), ref.data(), 1.f, false,
                                  bias.data());
    for (index_t i = 0; i < 9; ++i) {
        CHECK(std::fabs(y(i) - ref[i]) <= 1e-5f);
    }

    tensor<float, shape<dyn>> x31(31), y8(8);
    CHECK_THROWS_WITH_AS(ctt::gemv(a, x31.view(), y.view()),
                         "gemv: inner dimensions differ (32 != 31)", ctt::shape_error);
    CHECK_THROWS_WITH_AS(ctt::gemv(a, x.view(), y8.view()), "gemv: output lengths differ (9 != 8)",
                         ctt::shape_error);
    CHECK_THROWS_WITH_AS(ctt::gemv(a, x.view(), y8.view(), y.view()),
                         "gemv: output lengths differ (8 != 9)", ctt::shape_error);
}

TEST_CASE("gemv does not depend on the thread count") {
    if (!ctt::simd::has_openmp) {
        return;
    }
    const int saved = ctt::simd::max_threads();
    const index_t m = 4100, k = 1030; // past the 4M-float threshold, odd row blocks
    std::vector<float> a(m * k), x(k), y1(m), y2(m);
    fill_random(a.data(), a.size(), 7);
    fill_random(x.data(), x.size(), 8);
    ctt::simd::set_num_threads(1);
    ctt::kernels::gemv(m, k, a.data(), k, x.data(), y1.data());
    ctt::simd::set_num_threads(2);
    ctt::kernels::gemv(m, k, a.data(), k, x.data(), y2.data());
    CHECK(std::memcmp(y1.data(), y2.data(), m * sizeof(float)) == 0);
    ctt::simd::set_num_threads(saved);
}
