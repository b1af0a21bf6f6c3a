// Tests of ctt::matmul / matmul_bt / kernels::gemm against the scalar twin.
//
// Tolerance: both the kernel and the twin sum K products in fp32, in different orders, so each
// is within K * eps * sum_k |a_ik b_kj| of the exact value (Higham, "Accuracy and Stability of
// Numerical Algorithms", 2nd ed., section 3.1). The tests allow twice that bound plus a few
// ulps for the epilogue: |c - ref| <= 2 (K + 2) eps (|alpha| sum_k |a_ik b_kj| + |bias_j| + |c0|).
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/gemm.hpp>
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
using ctt::tensor_view;
using ctt::kernels::transpose;

namespace {

void fill_random(float* p, index_t n, std::uint32_t seed) {
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
    }
}

struct gemm_case {
    index_t m, n, k;
    transpose tb;
    float alpha;
    bool accumulate;
    bool with_bias;
};

/// Runs kernels::gemm and the twin on the same data (with padded leading dimensions) and
/// checks every element against the stated bound; returns the number of failures.
int check_against_reference(const gemm_case& t, index_t pad = 0) {
    const index_t lda = t.k + pad;
    const index_t b_rows = t.tb == transpose::no ? t.k : t.n;
    const index_t b_cols = t.tb == transpose::no ? t.n : t.k;
    const index_t ldb = b_cols + pad;
    const index_t ldc = t.n + pad;
    std::vector<float> a(t.m * lda + 1), b(b_rows * ldb + 1), bias(t.n + 1), c0(t.m * ldc + 1);
    fill_random(a.data(), a.size(), 1);
    fill_random(b.data(), b.size(), 2);
    fill_random(bias.data(), bias.size(), 3);
    fill_random(c0.data(), c0.size(), 4);
    std::vector<float> c = c0, ref = c0;
    const float* bias_ptr = t.with_bias ? bias.data() : nullptr;
    ctt::kernels::gemm(t.m, t.n, t.k, a.data(), lda, b.data(), ldb, t.tb, c.data(), ldc, t.alpha,
                       t.accumulate, bias_ptr);
    ctt::kernels::reference::gemm(t.m, t.n, t.k, a.data(), lda, b.data(), ldb, t.tb, ref.data(),
                                  ldc, t.alpha, t.accumulate, bias_ptr);
    const float eps = std::numeric_limits<float>::epsilon();
    int failures = 0;
    for (index_t i = 0; i < t.m; ++i) {
        for (index_t j = 0; j < ldc; ++j) {
            const index_t idx = i * ldc + j;
            if (j >= t.n) {
                // Padding between rows of C must be untouched.
                failures += c[idx] != c0[idx] ? 1 : 0;
                continue;
            }
            float magnitude = 0.f;
            for (index_t p = 0; p < t.k; ++p) {
                const float bv = t.tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
                magnitude += std::fabs(a[i * lda + p] * bv);
            }
            magnitude = std::fabs(t.alpha) * magnitude + (t.with_bias ? std::fabs(bias[j]) : 0.f) +
                        (t.accumulate ? std::fabs(c0[idx]) : 0.f);
            const float tol = 2.f * static_cast<float>(t.k + 2) * eps * magnitude;
            if (!(std::fabs(c[idx] - ref[idx]) <= tol)) {
                if (failures < 5) {
                    MESSAGE("m=" << t.m << " n=" << t.n << " k=" << t.k << " at (" << i << ", " << j
                                 << "): " << c[idx] << " vs " << ref[idx] << " tol " << tol);
                }
                ++failures;
            }
        }
    }
    return failures;
}

struct mnk {
    index_t m, n, k;
};

// Odd sizes, sizes just past the micro-tile, and sizes past every cache block (kc = 256,
// mc = 336 and nc = 3072 on AVX-512).
const mnk sizes[] = {{1, 1, 1},       {3, 3, 3},     {17, 17, 17},  {33, 33, 33},
                     {127, 127, 127}, {1, 33, 17},   {17, 1, 127},  {15, 31, 2},
                     {300, 257, 130}, {29, 45, 600}, {400, 40, 20}, {15, 3100, 9}};

} // namespace

TEST_CASE("kernels::gemm matches the scalar twin for both layouts of B") {
    for (const transpose tb : {transpose::no, transpose::yes}) {
        for (const mnk& s : sizes) {
            CAPTURE(s.m);
            CAPTURE(s.n);
            CAPTURE(s.k);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, 1.f, false, false}) == 0);
        }
    }
}

TEST_CASE("kernels::gemm: alpha, accumulate, bias and leading dimensions") {
    for (const transpose tb : {transpose::no, transpose::yes}) {
        for (const mnk& s : {mnk{17, 33, 127}, mnk{300, 257, 130}, mnk{5, 70, 300}}) {
            CAPTURE(s.m);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, -0.75f, false, false}) == 0);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, 1.f, true, false}) == 0);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, 1.f, false, true}) == 0);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, 0.5f, true, true}, 7) == 0);
            CHECK(check_against_reference({s.m, s.n, s.k, tb, 2.f, false, true}, 16) == 0);
        }
    }
}

TEST_CASE("kernels::gemm with k == 0 writes bias (+ C)") {
    std::vector<float> c(6, 2.f);
    const float bias[3] = {1.f, 2.f, 3.f};
    ctt::kernels::gemm(2, 3, 0, nullptr, 0, nullptr, 3, transpose::no, c.data(), 3, 1.f, true,
                       bias);
    CHECK(c == std::vector<float>{3.f, 4.f, 5.f, 3.f, 4.f, 5.f});
    ctt::kernels::gemm(2, 3, 0, nullptr, 0, nullptr, 3, transpose::no, c.data(), 3, 1.f, false,
                       nullptr);
    CHECK(c == std::vector<float>(6, 0.f));
}

namespace {

template <class T, class S>
void fill_view(tensor_view<T, S> v, std::uint32_t seed) {
    std::vector<float> tmp(v.cols());
    for (index_t i = 0; i < v.rows(); ++i) {
        fill_random(tmp.data(), tmp.size(), seed + static_cast<std::uint32_t>(i));
        std::memcpy(v.data() + i * v.row_stride(), tmp.data(), tmp.size() * sizeof(float));
    }
}

/// Checks C (a view) against the twin run on the same views' storage.
template <class SA, class SB, class SC>
void check_views(tensor_view<const float, SA> a, tensor_view<const float, SB> b,
                 tensor_view<const float, SC> c, transpose tb, const float* bias, float alpha,
                 const std::vector<float>& c_before, bool accumulate) {
    const index_t m = c.rows(), n = c.cols(), k = a.cols();
    std::vector<float> ref(m * n);
    for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
            ref[i * n + j] = c_before[i * n + j];
        }
    }
    ctt::kernels::reference::gemm(m, n, k, a.data(), a.row_stride(), b.data(), b.row_stride(), tb,
                                  ref.data(), n, alpha, accumulate, bias);
    const float eps = std::numeric_limits<float>::epsilon();
    for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
            CHECK(std::fabs(c(i, j) - ref[i * n + j]) <=
                  2.f * static_cast<float>(k + 2) * eps *
                      (static_cast<float>(k) * std::fabs(alpha) + 2.f));
        }
    }
}

} // namespace

TEST_CASE("matmul and matmul_bt on strided head slices of wider matrices") {
    // A is head 1 of a [L, 3*32] activation, B^T is a [48, 32] block of a wider weight, C is a
    // column block of a [L, 64] output whose other columns must stay untouched.
    constexpr index_t L = 37;
    tensor<float, shape<dyn, 96>> act(L);
    tensor<float, shape<48, 80>> weight;
    tensor<float, shape<32, 64>> weight_nn;
    tensor<float, shape<dyn, 64>> out(L);
    tensor<float, shape<48>> bias;
    fill_view(act.view(), 10);
    fill_view(weight.view(), 20);
    fill_view(weight_nn.view(), 30);
    fill_view(bias.view().reshape(shape<1, 48>{}), 40);
    out.fill(9.f);

    tensor_view<const float, shape<dyn, 32>> a = act.view().as<shape<dyn, 96>>().cols<32>(32);
    tensor_view<const float, shape<48, 32>> bt = std::as_const(weight).view().cols<32>(8);
    tensor_view<const float, shape<32, 48>> b = std::as_const(weight_nn).view().cols<48>(4);
    tensor_view<float, shape<dyn, 48>> c = out.view().cols<48>(8);
    const std::vector<float> nines(L * 48, 9.f);

    ctt::matmul_bt(a, bt, c);
    check_views(a, bt, tensor_view<const float, shape<dyn, 48>>(c), transpose::yes, nullptr, 1.f,
                nines, false);

    out.fill(9.f);
    ctt::matmul_bt(a, bt, tensor_view<const float, shape<48>>(bias.view()), c, {0.5f, true});
    check_views(a, bt, tensor_view<const float, shape<dyn, 48>>(c), transpose::yes, bias.data(),
                0.5f, nines, true);

    out.fill(9.f);
    ctt::matmul(a, b, c, {-1.f, false});
    check_views(a, b, tensor_view<const float, shape<dyn, 48>>(c), transpose::no, nullptr, -1.f,
                nines, false);

    out.fill(9.f);
    ctt::matmul(act.view().cols<32>(32), weight_nn.view().cols<48>(4), bias.view(), c);
    check_views(a, b, tensor_view<const float, shape<dyn, 48>>(c), transpose::no, bias.data(), 1.f,
                nines, false);
    for (index_t i = 0; i < L; ++i) {
        for (index_t j = 0; j < 64; ++j) {
            if (j < 8 || j >= 56) {
                CHECK(out(i, j) == 9.f);
            }
        }
    }
}

namespace {

template <index_t M, index_t N, index_t K>
void check_static_path() {
    tensor<float, shape<M, K>> a;
    tensor<float, shape<K, N>> b;
    tensor<float, shape<N, K>> bt;
    tensor<float, shape<N>> bias;
    tensor<float, shape<M, N>> c;
    fill_random(a.data(), a.size(), 5);
    fill_random(b.data(), b.size(), 6);
    fill_random(bt.data(), bt.size(), 7);
    fill_random(bias.data(), bias.size(), 8);
    fill_random(c.data(), c.size(), 9);
    const std::vector<float> c0(c.begin(), c.end());

    ctt::matmul(std::as_const(a).view(), std::as_const(b).view(), c.view(), {0.25f, true});
    check_views(std::as_const(a).view(), std::as_const(b).view(), std::as_const(c).view(),
                transpose::no, nullptr, 0.25f, c0, true);

    ctt::matmul_bt(a.view(), bt.view(), bias.view(), c.view());
    check_views(std::as_const(a).view(), std::as_const(bt).view(), std::as_const(c).view(),
                transpose::yes, bias.data(), 1.f, c0, false);
}

} // namespace

TEST_CASE("static fast path (M, N, K <= 64) matches the twin") {
    check_static_path<2, 2, 3>();
    check_static_path<1, 17, 33>();
    check_static_path<17, 33, 5>();
    check_static_path<16, 32, 48>();
    check_static_path<64, 64, 64>();
    check_static_path<33, 64, 17>();
}

TEST_CASE("matmul: the 2x3 * 3x2 example is exact") {
    tensor<float, shape<2, 3>> a;
    tensor<float, shape<3, 2>> b;
    tensor<float, shape<dyn, 2>> c(2);
    for (index_t i = 0; i < 6; ++i) {
        a.data()[i] = static_cast<float>(i + 1);
        b.data()[i] = static_cast<float>(6 - i);
    }
    ctt::matmul(a.view(), b.view(), c.view());
    CHECK(c(0, 0) == 20.f);
    CHECK(c(0, 1) == 14.f);
    CHECK(c(1, 0) == 56.f);
    CHECK(c(1, 1) == 41.f);
}

TEST_CASE("the result does not depend on the thread count") {
    if (!ctt::simd::has_openmp) {
        MESSAGE("built without OpenMP: nothing to compare");
        return;
    }
    const int saved = ctt::simd::max_threads();
    // Column split, row split (narrow n) and a shape with edge tiles in both directions.
    for (const mnk& s : {mnk{300, 257, 530}, mnk{700, 30, 300}, mnk{64, 1000, 100}}) {
        for (const transpose tb : {transpose::no, transpose::yes}) {
            const index_t b_size = s.k * s.n;
            std::vector<float> a(s.m * s.k), b(b_size), bias(s.n), c1(s.m * s.n), c2;
            fill_random(a.data(), a.size(), 11);
            fill_random(b.data(), b.size(), 12);
            fill_random(bias.data(), bias.size(), 13);
            fill_random(c1.data(), c1.size(), 14);
            c2 = c1;
            const index_t ldb = tb == transpose::no ? s.n : s.k;
            ctt::simd::set_num_threads(1);
            ctt::kernels::gemm(s.m, s.n, s.k, a.data(), s.k, b.data(), ldb, tb, c1.data(), s.n,
                               0.7f, true, bias.data());
            ctt::simd::set_num_threads(2);
            ctt::kernels::gemm(s.m, s.n, s.k, a.data(), s.k, b.data(), ldb, tb, c2.data(), s.n,
                               0.7f, true, bias.data());
            CAPTURE(s.m);
            CAPTURE(s.n);
            CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
        }
    }
    ctt::simd::set_num_threads(saved);
}

TEST_CASE("runtime shape mismatches throw with the exact message") {
    tensor<float, shape<dyn, dyn>> a5x6(5, 6), b7x4(7, 4), c5x4(5, 4), c6x4(6, 4), c5x3(5, 3);
    tensor<float, shape<dyn>> bias3(3);
    CHECK_THROWS_WITH_AS(ctt::matmul(a5x6.view(), b7x4.view(), c5x4.view()),
                         "matmul: inner dimensions differ (6 != 7)", ctt::shape_error);
    tensor<float, shape<dyn, dyn>> b6x4(6, 4);
    CHECK_THROWS_WITH_AS(ctt::matmul(a5x6.view(), b6x4.view(), c6x4.view()),
                         "matmul: output rows differ (5 != 6)", ctt::shape_error);
    CHECK_THROWS_WITH_AS(ctt::matmul(a5x6.view(), b6x4.view(), c5x3.view()),
                         "matmul: output columns differ (4 != 3)", ctt::shape_error);
    CHECK_THROWS_WITH_AS(ctt::matmul(a5x6.view(), b6x4.view(), bias3.view(), c5x4.view()),
                         "matmul: bias and output columns differ (3 != 4)", ctt::shape_error);
    // matmul_bt: B is [N, K].
    tensor<float, shape<dyn, 5>> bt4x5(4);
    CHECK_THROWS_WITH_AS(ctt::matmul_bt(a5x6.view(), bt4x5.view(), c5x4.view()),
                         "matmul: inner dimensions differ (6 != 5)", ctt::shape_error);
    tensor<float, shape<dyn, 6>> bt4x6(4);
    CHECK_THROWS_WITH_AS(ctt::matmul_bt(a5x6.view(), bt4x6.view(), c5x3.view()),
                         "matmul: output columns differ (4 != 3)", ctt::shape_error);
    CHECK_NOTHROW(ctt::matmul_bt(a5x6.view(), bt4x6.view(), c5x4.view()));
}
