// kernels::packed_matrix, gemm_packed and gemv_packed: bit-identical to the unpacked GEMM for
// any row count of two or more (the same arithmetic per element), every row bit-identical to
// that row alone through the one-row path (batch invariance), any thread count giving the same
// bits, and all of them within the GEMM's error bound of the scalar twin, over odd sizes, both
// weight layouts, alpha, accumulation and bias. Reduced-precision storage (bf16, f16, int8) is
// checked against its own scalar twin: the matrix it must hold (rounded to nearest even, or
// quantised per block of 32 along k). bf16 and f16 products are that matrix's float product bit
// for bit; int8 products are their own twin's bits (activations quantised per group of 32,
// exact integer dot products, scaled into float chains), on every target and thread count, and
// within the activation's quantisation error of the float product.
// A matrix read in place from `[n, k]` or `[k, n]` rows (`packed_matrix::in_place`, the zero-copy
// load) in f32, bf16 or f16 gives the packed matrix's bits in every call.
#include <ctt/io/half.hpp>
#include <ctt/kernels/gemm.hpp>
#include <ctt/kernels/packed_gemm.hpp>
#include <ctt/kernels/reference/gemm.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
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

/// The scalar twin of the storage: `op(B)` (`[k, n]`) as `type` holds it, widened back.
std::vector<float> stored_twin(const std::vector<float>& b, index_t k, index_t n, index_t ldb,
                               transpose tb, ctt::weight_type type) {
    std::vector<float> out(k * n);
    const auto at = [&](index_t p, index_t j) {
        return tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
    };
    for (index_t j = 0; j < n; ++j) {
        for (index_t g = 0; g < k; g += 32) {
            const index_t end = std::min(k, g + 32);
            float amax = 0.f;
            bool finite = true;
            for (index_t p = g; p < end; ++p) {
                amax = std::max(amax, std::fabs(at(p, j)));
                finite = finite && std::isfinite(at(p, j));
            }
            const float d = amax / 127.f;
            for (index_t p = g; p < end; ++p) {
                const float w = at(p, j);
                float stored = w;
                switch (type) {
                case ctt::weight_type::f32:
                    break;
                case ctt::weight_type::bf16:
                    stored = ctt::bf16_to_float(ctt::float_to_bf16(w));
                    break;
                case ctt::weight_type::f16:
                    stored = ctt::fp16_to_float(ctt::float_to_fp16(w));
                    break;
                case ctt::weight_type::int8: {
                    if (!finite) {
                        stored = std::numeric_limits<float>::quiet_NaN();
                        break;
                    }
                    const float q = d > 0.f ? std::nearbyint(w / d) : 0.f;
                    CHECK(std::fabs(q) <= 127.f);
                    stored = static_cast<float>(static_cast<int>(q)) * d; // an integer: no -0
                    break;
                }
                }
                out[p * n + j] = stored;
            }
        }
    }
    return out;
}

/**
 * @brief The int8 product's scalar twin, bit for bit: each row of `a` quantised per group of 32
 *        (`d = max|x| / 127`, `q = round(x / d)`), each group's exact integer dot product with
 *        the stored integers, `acc = fma(I, s * d, acc)` over the groups of each k block of the
 *        GEMM from zero, then the block's epilogue `c = fma(alpha, acc, init)`.
 */
std::vector<float> int8_twin(const packed_case& t, const ctt::kernels::packed_matrix& b,
                             const std::vector<float>& a, const std::vector<float>& c0,
                             const float* bias) {
    constexpr index_t kc = ctt::kernels::detail::gemm_blocking::kc;
    constexpr index_t nr = ctt::kernels::detail::gemm_blocking::nr;
    auto c = c0;
    std::vector<int> q(t.k);
    std::vector<float> d((t.k + 31) / 32);
    for (index_t i = 0; i < t.m; ++i) {
        const float* x = a.data() + i * t.k;
        for (index_t g = 0; g < t.k; g += 32) {
            float amax = 0.f;
            for (index_t p = g; p < std::min(t.k, g + 32); ++p) {
                amax = std::max(amax, std::fabs(x[p]));
            }
            d[g / 32] = amax / 127.f;
            for (index_t p = g; p < std::min(t.k, g + 32); ++p) {
                q[p] = amax > 0.f ? static_cast<int>(std::nearbyint(x[p] / d[g / 32])) : 0;
                CHECK(std::abs(q[p]) <= 127);
            }
        }
        for (index_t j = 0; j < t.n; ++j) {
            float& y = c[i * t.n + j];
            for (index_t pc = 0; pc < t.k; pc += kc) {
                float acc = 0.f;
                for (index_t g = pc; g < std::min(t.k, pc + kc); g += 32) {
                    int dot = 0;
                    for (index_t p = g; p < std::min(t.k, g + 32); ++p) {
                        dot += q[p] * b.quantised(p, j);
                    }
                    acc = std::fma(static_cast<float>(dot), b.scale(g, j) * d[g / 32], acc);
                }
                const bool first = pc == 0;
                const float bj = first && bias != nullptr ? bias[j] : 0.f;
                const float init = (!first || t.accumulate) ? y + bj : bj;
                // The epilogue of a whole sliver is a register's fma, which is a multiply and
                // an add on a target without FMA (SSE2); a partial sliver's is std::fma.
                using fbatch = ctt::kernels::detail::fbatch;
                y = (j / nr + 1) * nr <= t.n
                        ? ctt::simd::fma(fbatch(t.alpha), fbatch(acc), fbatch(init)).get(0)
                        : std::fma(t.alpha, acc, init);
            }
        }
    }
    return c;
}

/// `[n, k]` (`tb` yes) or `[k, n]` (`tb` no) rows stored as `type` (f32, bf16 or f16), read in
/// place: the matrix a checkpoint's `[out, in]` or `[in, out]` weight becomes under
/// `weight_binding::in_place`.
ctt::kernels::packed_matrix rows_in_place(const std::vector<float>& rows, index_t k, index_t n,
                                          ctt::weight_type type, transpose tb = transpose::yes) {
    if (type == ctt::weight_type::f32) {
        auto copy = std::make_shared<std::vector<float>>(rows);
        return ctt::kernels::packed_matrix::in_place(k, n, copy->data(), tb, type, copy);
    }
    auto stored = std::make_shared<std::vector<std::uint16_t>>(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        (*stored)[i] = type == ctt::weight_type::bf16 ? ctt::float_to_bf16(rows[i])
                                                      : ctt::float_to_fp16(rows[i]);
    }
    return ctt::kernels::packed_matrix::in_place(k, n, stored->data(), tb, type, stored);
}

/// Each row alone (the one-row path) gives that row's bits of the many-row product `c`.
void check_rows_alone(const packed_case& t, const ctt::kernels::packed_matrix& b,
                      const std::vector<float>& a, const std::vector<float>& c0,
                      const std::vector<float>& c, const float* bias_ptr) {
    for (index_t i = 0; i < t.m; i += std::max<index_t>(1, t.m / 3)) {
        std::vector<float> row(c0.begin() + i * t.n, c0.begin() + (i + 1) * t.n);
        ctt::kernels::gemv_packed(a.data() + i * t.k, b, row.data(), t.alpha, t.accumulate,
                                  bias_ptr);
        const std::vector<float> expected(c.begin() + i * t.n, c.begin() + (i + 1) * t.n);
        CHECK(same_bits(row, expected));
    }
}

/// In place (`[n, k]` or `[k, n]` rows, as `t.tb`): the packed matrix's contents and every
/// product's bits.
void check_in_place(const packed_case& t, ctt::weight_type type, const std::vector<float>& b0,
                    const ctt::kernels::packed_matrix& packed, const std::vector<float>& a,
                    const std::vector<float>& c0, const std::vector<float>& c,
                    const float* bias_ptr) {
    const auto in_place = rows_in_place(b0, t.k, t.n, type, t.tb);
    CHECK(in_place.in_place());
    CHECK(in_place.layout() == t.tb);
    CHECK(!packed.in_place());
    CHECK(in_place.rows() == t.k);
    CHECK(in_place.cols() == t.n);
    CHECK(in_place.bytes() == t.k * t.n * ctt::element_bytes(type));
    CHECK(same_bits(in_place.widened(), packed.widened()));
    auto c_in_place = c0;
    ctt::kernels::gemm_packed(t.m, a.data(), t.k, in_place, c_in_place.data(), t.n, t.alpha,
                              t.accumulate, bias_ptr);
    CHECK(same_bits(c_in_place, c));
    check_rows_alone(t, in_place, a, c0, c, bias_ptr);
    // A copy shares the rows (and keeps them alive).
    const auto copy = in_place;
    CHECK(copy.in_place());
    CHECK(same_bits(copy.widened(), packed.widened()));
}

void check(const packed_case& t, ctt::weight_type type = ctt::weight_type::f32) {
    CAPTURE(t.m);
    CAPTURE(t.n);
    CAPTURE(t.k);
    CAPTURE(t.tb == transpose::yes);
    CAPTURE(ctt::to_string(type));
    const index_t ldb0 = t.tb == transpose::no ? t.n : t.k;
    const auto a = random_values(t.m * t.k, 1);
    const auto b0 = random_values((t.tb == transpose::no ? t.k : t.n) * ldb0, 2);
    const auto bias = random_values(t.n, 3);
    const auto c0 = random_values(t.m * t.n, 4);
    const float* bias_ptr = t.with_bias ? bias.data() : nullptr;
    const ctt::kernels::packed_matrix packed(t.k, t.n, b0.data(), ldb0, t.tb, type);
    CHECK(packed.rows() == t.k);
    CHECK(packed.cols() == t.n);
    CHECK(packed.type() == type);
    // Reduced storage: it holds exactly its twin's matrix, and everything below is checked on
    // that matrix ([k, n]); f32 is checked on B itself, in its own layout.
    const bool reduced = type != ctt::weight_type::f32;
    const auto b = reduced ? stored_twin(b0, t.k, t.n, ldb0, t.tb, type) : b0;
    const transpose tb = reduced ? transpose::no : t.tb;
    const index_t ldb = reduced ? t.n : ldb0;
    if (reduced) {
        CHECK(same_bits(packed.widened(), b));
        if (type == ctt::weight_type::int8) {
            // Quantisation error: at most half a step of the block's scale.
            int far = 0;
            for (index_t p = 0; p < t.k; ++p) {
                for (index_t j = 0; j < t.n; ++j) {
                    const float w = t.tb == transpose::no ? b0[p * ldb0 + j] : b0[j * ldb0 + p];
                    far += std::fabs(w - b[p * t.n + j]) > 0.5f / 127.f * 1.0001f ? 1 : 0;
                }
            }
            CHECK(far == 0);
        }
    }

    auto c = c0;
    ctt::kernels::gemm_packed(t.m, a.data(), t.k, packed, c.data(), t.n, t.alpha, t.accumulate,
                              bias_ptr);
    const bool int8 = type == ctt::weight_type::int8;
    if (int8) {
        // Its own twin's bits, for any row count (one row: the one-row path).
        CHECK(same_bits(c, int8_twin(t, packed, a, c0, bias_ptr)));
    }
    // The unpacked GEMM, through its loop nest (rows >= 2: m == 1 with [n, k] takes its gemv).
    if (t.m >= 2 && !int8) {
        auto unpacked = c0;
        ctt::kernels::detail::gemm_dispatch(t.m, t.n, t.k, a.data(), t.k, b.data(), ldb, tb,
                                            unpacked.data(), t.n, t.alpha, t.accumulate, bias_ptr);
        CHECK(same_bits(c, unpacked));
    }
    // Each row alone (the one-row path) gives that row's bits.
    check_rows_alone(t, packed, a, c0, c, bias_ptr);
    if (type != ctt::weight_type::int8) {
        check_in_place(t, type, b0, packed, a, c0, c, bias_ptr);
    }
    // The scalar twin, within the GEMM's bound (int8: plus the activation's quantisation
    // error, at most half a step of its group's scale per element).
    auto ref = c0;
    ctt::kernels::reference::gemm(t.m, t.n, t.k, a.data(), t.k, b.data(), ldb, tb, ref.data(), t.n,
                                  t.alpha, t.accumulate, bias_ptr);
    int bad = 0;
    for (index_t i = 0; i < t.m; ++i) {
        for (index_t j = 0; j < t.n; ++j) {
            double magnitude = 0;
            double quantisation = 0;
            for (index_t p = 0; p < t.k; ++p) {
                const float bv = tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
                magnitude += std::abs(static_cast<double>(a[i * t.k + p]) * bv);
                if (int8) {
                    double amax = 0;
                    for (index_t e = p / 32 * 32; e < std::min(t.k, p / 32 * 32 + 32); ++e) {
                        amax = std::max(amax, static_cast<double>(std::fabs(a[i * t.k + e])));
                    }
                    quantisation += std::abs(static_cast<double>(bv)) * amax / 127.0 * 0.5001;
                }
            }
            magnitude = std::abs(t.alpha) * magnitude + (t.with_bias ? std::abs(bias[j]) : 0) +
                        (t.accumulate ? std::abs(c0[i * t.n + j]) : 0);
            const double bound = 2.0 * static_cast<double>(t.k + 2) * 1.2e-7 * magnitude +
                                 std::abs(t.alpha) * quantisation + 1e-30;
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
        // Past one band of `[k, n]` rows read in place (4096 columns), k past a block.
        check({2, 4150, 300, tb, 1.f, true, true});
    }
}

TEST_CASE("gemm_packed with bf16, f16 and int8 weights: the twin's matrix, its float bits") {
    for (const auto type :
         {ctt::weight_type::bf16, ctt::weight_type::f16, ctt::weight_type::int8}) {
        for (const transpose tb : {transpose::yes, transpose::no}) {
            for (const index_t m : {1, 2, 15, 29}) {
                for (const index_t n : {1, 33, 70}) {
                    for (const index_t k : {1, 7, 31, 33, 257}) {
                        check({m, n, k, tb, 1.f, false, false}, type);
                    }
                }
            }
            check({37, 129, 300, tb, 0.5f, true, true}, type);
            check({1, 517, 600, tb, -1.25f, true, true}, type);
            // Whole slivers and rows of whole registers (the in-place fast path throughout).
            check({1, 96, 512, tb, 1.f, false, true}, type);
            check({20, 64, 1024, tb, 2.f, true, false}, type);
            check({1, 4150, 33, tb, 1.f, true, true}, type);
        }
    }
}

TEST_CASE("packed_matrix::in_place: int8 and missing rows are refused") {
    CHECK_THROWS_AS((void)ctt::kernels::packed_matrix::in_place(
                        32, 4, std::vector<std::int8_t>(128).data(), transpose::yes,
                        ctt::weight_type::int8, nullptr),
                    ctt::value_error);
    CHECK_THROWS_AS((void)ctt::kernels::packed_matrix::in_place(32, 4, nullptr, transpose::no,
                                                                ctt::weight_type::f32, nullptr),
                    ctt::value_error);
}

TEST_CASE("reduced-precision weights: NaN and infinity propagate as values") {
    const index_t k = 40, n = 20;
    auto b = random_values(k * n, 9); // [n, k]
    b[3 * k + 5] = std::numeric_limits<float>::infinity();
    b[7 * k + 35] = std::numeric_limits<float>::quiet_NaN();
    const auto x = random_values(k, 10);
    for (const auto type : {ctt::weight_type::f32, ctt::weight_type::bf16, ctt::weight_type::f16,
                            ctt::weight_type::int8}) {
        CAPTURE(ctt::to_string(type));
        const ctt::kernels::packed_matrix packed(k, n, b.data(), k, transpose::yes, type);
        std::vector<float> y(n);
        ctt::kernels::gemv_packed(x.data(), packed, y.data());
        CHECK(!std::isfinite(y[3]));
        CHECK(std::isnan(y[7]));
        CHECK(std::isfinite(y[0]));
        const auto w = packed.widened();
        if (type == ctt::weight_type::int8) {
            // The whole block of 32 that holds a non-finite weight is NaN; its neighbours are not.
            CHECK(std::isnan(w[0 * n + 3]));
            CHECK(std::isnan(w[32 * n + 7]));
            CHECK(std::isfinite(w[32 * n + 3]));
        } else {
            CHECK(std::isinf(w[5 * n + 3]));
        }
        // A non-finite activation reaches every output: inf (or NaN) in float; int8 quantises
        // its group of 32 to NaN, never converting it to an integer.
        auto xi = x;
        xi[33] = std::numeric_limits<float>::infinity();
        ctt::kernels::gemv_packed(xi.data(), packed, y.data());
        int finite = 0;
        for (const float v : y) {
            finite += std::isfinite(v) ? 1 : 0;
        }
        CHECK(finite == 0);
    }
}

TEST_CASE("gemm_packed and gemv_packed give the same bits for 1, 2 and 3 threads") {
    const index_t m = 45, n = 700, k = 777; // past every threading threshold
    const auto a = random_values(m * k, 5);
    const auto b = random_values(n * k, 6);
    const auto bias = random_values(n, 7);
    for (const auto type : {ctt::weight_type::f32, ctt::weight_type::bf16, ctt::weight_type::f16,
                            ctt::weight_type::int8}) {
        CAPTURE(ctt::to_string(type));
        const ctt::kernels::packed_matrix packed(k, n, b.data(), k, transpose::yes, type);
        const bool reads_in_place = type != ctt::weight_type::int8;
        const auto in_place =
            reads_in_place ? rows_in_place(b, k, n, type) : ctt::kernels::packed_matrix{};
        // The same matrix as `[k, n]` rows (b transposed).
        std::vector<float> bt(k * n);
        for (index_t j = 0; j < n; ++j) {
            for (index_t p = 0; p < k; ++p) {
                bt[p * n + j] = b[j * k + p];
            }
        }
        const auto k_rows = reads_in_place ? rows_in_place(bt, k, n, type, transpose::no)
                                           : ctt::kernels::packed_matrix{};
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
            if (reads_in_place) {
                // Rows in place, either layout: the packed matrix's bits.
                for (const auto* rows_b : {&in_place, &k_rows}) {
                    std::vector<float> c2(m * n);
                    ctt::kernels::gemm_packed(m, a.data(), k, *rows_b, c2.data(), n, 1.f, false,
                                              bias.data());
                    CHECK(same_bits(c2, c));
                    std::vector<float> row2(n);
                    ctt::kernels::gemv_packed(a.data(), *rows_b, row2.data(), 1.f, false,
                                              bias.data());
                    CHECK(same_bits(row2, row));
                }
            }
        }
        ctt::simd::set_num_threads(before);
        CHECK(same_bits(results[0], results[1]));
        CHECK(same_bits(results[0], results[2]));
        CHECK(same_bits(rows[0], rows[1]));
        CHECK(same_bits(rows[0], rows[2]));
        CHECK(std::memcmp(rows[0].data(), results[0].data(), n * sizeof(float)) == 0);
    }
}
