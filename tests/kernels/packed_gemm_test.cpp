// kernels::packed_matrix, gemm_packed and gemv_packed: bit-identical to the unpacked GEMM for
// any row count of two or more (the same arithmetic per element), every row bit-identical to
// that row alone through the one-row path (batch invariance), any thread count giving the same
// bits, and all of them within the GEMM's error bound of the scalar twin, over odd sizes, both
// weight layouts, alpha, accumulation and bias.
#include <ctt/kernels/gemm.hpp>
#include <ctt/kernels/packed_gemm.hpp>
#include <ctt/kernels/reference/gemm.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

using ctt::index_t;
using ctt::kernels::transpose;

namespace {

std::vector<float> random_values(index_t n, std::uint32_t seed) {
    std::vector<float> v(n);
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
    }
    return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct packed_case {
    index_t m, n, k;
    transpose tb;
    float alpha;
    bool accumulate;
    bool with_bias;
};

void check(const packed_case& t) {
    CAPTURE(t.m);
    CAPTURE(t.n);
    CAPTURE(t.k);
    CAPTURE(t.tb == transpose::yes);
    const index_t ldb = t.tb == transpose::no ? t.n : t.k;
    const auto a = random_values(t.m * t.k, 1);
    const auto b = random_values((t.tb == transpose::no ? t.k : t.n) * ldb, 2);
    const auto bias = random_values(t.n, 3);
    const auto c0 = random_values(t.m * t.n, 4);
    const float* bias_ptr = t.with_bias ? bias.data() : nullptr;
    const ctt::kernels::packed_matrix packed(t.k, t.n, b.data(), ldb, t.tb);
    CHECK(packed.rows() == t.k);
    CHECK(packed.cols() == t.n);

    auto c = c0;
    ctt::kernels::gemm_packed(t.m, a.data(), t.k, packed, c.data(), t.n, t.alpha, t.accumulate,
                              bias_ptr);
    // The unpacked GEMM, through its loop nest (rows >= 2: m == 1 with [n, k] takes its gemv).
    if (t.m >= 2) {
        auto unpacked = c0;
        ctt::kernels::detail::gemm_dispatch(t.m, t.n, t.k, a.data(), t.k, b.data(), ldb, t.tb,
                                            unpacked.data(), t.n, t.alpha, t.accumulate, bias_ptr);
        CHECK(same_bits(c, unpacked));
    }
    // Each row alone (the one-row path) gives that row's bits.
    for (index_t i = 0; i < t.m; i += std::max<index_t>(1, t.m / 3)) {
        std::vector<float> row(c0.begin() + i * t.n, c0.begin() + (i + 1) * t.n);
        ctt::kernels::gemv_packed(a.data() + i * t.k, packed, row.data(), t.alpha, t.accumulate,
                                  bias_ptr);
        const std::vector<float> expected(c.begin() + i * t.n, c.begin() + (i + 1) * t.n);
        CHECK(same_bits(row, expected));
    }
    // The scalar twin, within the GEMM's bound.
    auto ref = c0;
    ctt::kernels::reference::gemm(t.m, t.n, t.k, a.data(), t.k, b.data(), ldb, t.tb, ref.data(),
                                  t.n, t.alpha, t.accumulate, bias_ptr);
    int bad = 0;
    for (index_t i = 0; i < t.m; ++i) {
        for (index_t j = 0; j < t.n; ++j) {
            double magnitude = 0;
            for (index_t p = 0; p < t.k; ++p) {
                const float bv = t.tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
                magnitude += std::abs(static_cast<double>(a[i * t.k + p]) * bv);
            }
            magnitude = std::abs(t.alpha) * magnitude + (t.with_bias ? std::abs(bias[j]) : 0) +
                        (t.accumulate ? std::abs(c0[i * t.n + j]) : 0);
            const double bound = 2.0 * static_cast<double>(t.k + 2) * 1.2e-7 * magnitude + 1e-30;
            bad += std::abs(c[i * t.n + j] - ref[i * t.n + j]) > bound ? 1 : 0;
        }
    }
    CHECK(bad == 0);
}

} // namespace

TEST_CASE("gemm_packed: the unpacked GEMM's bits, each row alone, the twin's values") {
    for (const transpose tb : {transpose::yes, transpose::no}) {
        for (const index_t m : {1, 2, 3, 14, 15, 29}) {
            for (const index_t n : {1, 31, 33, 70}) {
                for (const index_t k : {1, 7, 256, 257}) {
                    check({m, n, k, tb, 1.f, false, false});
                }
            }
        }
        check({37, 129, 300, tb, 0.5f, true, true});
        check({1, 517, 600, tb, -1.25f, true, true});
        check({200, 40, 513, tb, 1.f, false, true});
    }
}

TEST_CASE("gemm_packed and gemv_packed give the same bits for 1, 2 and 3 threads") {
    const index_t m = 45, n = 700, k = 777; // past every threading threshold
    const auto a = random_values(m * k, 5);
    const auto b = random_values(n * k, 6);
    const auto bias = random_values(n, 7);
    const ctt::kernels::packed_matrix packed(k, n, b.data(), k, transpose::yes);
    std::vector<std::vector<float>> results;
    std::vector<std::vector<float>> rows;
    const int before = ctt::simd::max_threads();
    for (const int threads : {1, 2, 3}) {
        ctt::simd::set_num_threads(threads);
        std::vector<float> c(m * n);
        ctt::kernels::gemm_packed(m, a.data(), k, packed, c.data(), n, 1.f, false, bias.data());
        results.push_back(c);
        std::vector<float> row(n);
        ctt::kernels::gemv_packed(a.data(), packed, row.data(), 1.f, false, bias.data());
        rows.push_back(row);
    }
    ctt::simd::set_num_threads(before);
    CHECK(same_bits(results[0], results[1]));
    CHECK(same_bits(results[0], results[2]));
    CHECK(same_bits(rows[0], rows[1]));
    CHECK(same_bits(rows[0], rows[2]));
    CHECK(std::memcmp(rows[0].data(), results[0].data(), n * sizeof(float)) == 0);
}
