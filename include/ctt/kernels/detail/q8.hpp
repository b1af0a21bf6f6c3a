#pragma once
/**
 * @file
 * @brief The kernels of `int8` products: activation rows quantised per group of 32 along k,
 *        and exact integer dot products per group against block-scaled `int8` weights.
 *
 * One output element of an int8 product over one k block of the GEMM (`kc`, whole groups of
 * 32) is the chain `acc = fma(float(I_g), s_g * d_g, acc)` over the block's groups `g` in
 * order, from zero. `I_g` is the exact integer dot product of group `g`'s quantised
 * activations and weights, `s_g` the weight column's scale and `d_g` the activation row's.
 * `|I_g| <= 32 * 127 * 127 < 2^24`, so `I_g` is exact on every path, and exact as a float:
 * AVX512-VNNI (`vpdpbusd`) and the plain loops elsewhere give the same integers, hence the
 * same bits, for any row count, tile or thread.
 *
 * An activation group is quantised as the weights are (`d = max|x| / 127`, `q = round(x /
 * d)`), and a group holding a non-finite value gets `d = NaN`: the outputs it reaches are NaN,
 * as they would be in `float`, and no NaN ever reaches a float-to-int conversion.
 *
 * The packed sliver of one k block holds `ceil(kc / 32) * 32` values of k per column (zeros
 * past `kc`) in quads of 4 consecutive k: column `c`'s value `p` is byte
 * `((p / 4) * nr + c) * 4 + p % 4`. So 64 bytes are 16 columns' next 4 values, one
 * `vpdpbusd` operand. `vpdpbusd` multiplies unsigned by signed bytes: the weights are flipped
 * to unsigned (`q + 128`, one XOR) and the activation's `-128 * sum(q)` per group, computed
 * once per row, starts the integer sum.
 */

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ctt/core/shape.hpp"
#include "ctt/core/weight_type.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace ctt::kernels::detail {

inline constexpr index_t q8_group = static_cast<index_t>(int8_block);

/// Whether the int8 products run on AVX512-VNNI (`vpdpbusd`, 64 bytes of weights at a time).
inline constexpr bool q8_vnni =
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    true;
#else
    false;
#endif

/// `n` rounded up to whole groups of 32.
[[nodiscard]] constexpr index_t q8_padded(index_t n) noexcept {
    return (n + q8_group - 1) / q8_group * q8_group;
}

/// Where value `p` of column `c` lies in an int8 sliver of `nr` columns (k in quads).
[[nodiscard]] constexpr index_t q8_offset(index_t p, index_t c, index_t nr) noexcept {
    return ((p / 4) * nr + c) * 4 + p % 4;
}

/// Rows of activations quantised per group of 32 along k: the int8 products' left operand.
class q8_rows {
public:
    /// Quantises rows `[0, m)` of `a` (`k` columns, row stride `lda`).
    void quantise(index_t m, const float* a, index_t lda, index_t k) {
        padded_ = q8_padded(k);
        groups_ = padded_ / q8_group;
        q_.resize(static_cast<std::size_t>(m * padded_));
        scales_.resize(static_cast<std::size_t>(m * groups_));
        offsets_.resize(static_cast<std::size_t>(m * groups_));
        for (index_t i = 0; i < m; ++i) {
            const float* x = a + i * lda;
            std::int8_t* q = q_.data() + i * padded_;
            for (index_t g = 0; g < groups_; ++g) {
                const index_t p0 = g * q8_group;
                const index_t p1 = std::min(k, p0 + q8_group);
                float amax = 0.f;
                bool finite = true;
                for (index_t p = p0; p < p1; ++p) {
                    const float v = std::fabs(x[p]);
                    finite = finite && v <= std::numeric_limits<float>::max();
                    amax = std::max(amax, v);
                }
                const float d = finite ? amax / 127.f : std::numeric_limits<float>::quiet_NaN();
                const bool scaled = finite && d > 0.f;
                std::int32_t sum = 0;
                for (index_t p = p0; p < p0 + q8_group; ++p) {
                    const auto v = p < p1 && scaled ? quantised(x[p], d) : std::int8_t{0};
                    q[p] = v;
                    sum += v;
                }
                scales_[i * groups_ + g] = d;
                offsets_[i * groups_ + g] = -128 * sum;
            }
        }
    }

    /// `round(x / d)` clamped to `[-127, 127]`, for a finite `x` with `|x| <= 127 d`, `d > 0`
    /// (division, not a reciprocal: `1 / d` overflows for the smallest `d`).
    [[nodiscard]] static std::int8_t quantised(float x, float d) noexcept {
        return static_cast<std::int8_t>(std::clamp(std::nearbyint(x / d), -127.f, 127.f));
    }

    [[nodiscard]] index_t groups() const noexcept { return groups_; }
    /// Row `i`'s quantised values (`groups() * 32`, zeros past k).
    [[nodiscard]] const std::int8_t* values(index_t i) const noexcept {
        return q_.data() + i * padded_;
    }
    /// Row `i`'s scale per group.
    [[nodiscard]] const float* scales(index_t i) const noexcept {
        return scales_.data() + i * groups_;
    }
    /// Row `i`'s `-128 * sum(q)` per group (the unsigned weights' correction).
    [[nodiscard]] const std::int32_t* offsets(index_t i) const noexcept {
        return offsets_.data() + i * groups_;
    }

private:
    index_t padded_ = 0;
    index_t groups_ = 0;
    std::vector<std::int8_t> q_;
    std::vector<float> scales_;
    std::vector<std::int32_t> offsets_;
};

/// The calling thread's quantised rows (reused from call to call).
inline q8_rows& q8_workspace() {
    thread_local q8_rows rows;
    return rows;
}

/// Where one k block of int8 slivers lies: the weights of its first sliver, the bytes from one
/// sliver to the next, and the scales of its first group and column (`scale_stride` floats from
/// one group to the next).
struct q8_block {
    const std::int8_t* weights;
    index_t sliver_bytes;
    const float* scales;
    index_t scale_stride;
    index_t groups;
};

/**
 * @brief One row's chains over one k block for the `nr` columns of one sliver, in plain
 *        loops: `acc[c]` for column `c` (the twin of every vectorised path, bit for bit).
 *        `x`, `d` are the row's values and scales from the block's first group.
 */
template <index_t Nr>
inline void q8_sliver_chains(const q8_block& b, index_t sliver, const std::int8_t* x,
                             const float* d, float (&acc)[Nr]) noexcept {
    const std::int8_t* w = b.weights + sliver * b.sliver_bytes;
    const float* s = b.scales + sliver * Nr;
    std::fill(acc, acc + Nr, 0.f);
    for (index_t g = 0; g < b.groups; ++g) {
        const std::int8_t* wg = w + g * q8_group * Nr;
        const std::int8_t* xg = x + g * q8_group;
        for (index_t c = 0; c < Nr; ++c) {
            std::int32_t dot = 0;
            for (index_t t = 0; t < q8_group / 4; ++t) {
                for (index_t e = 0; e < 4; ++e) {
                    dot +=
                        std::int32_t{xg[4 * t + e]} * std::int32_t{wg[q8_offset(4 * t + e, c, Nr)]};
                }
            }
            acc[c] = std::fma(static_cast<float>(dot), s[g * b.scale_stride + c] * d[g], acc[c]);
        }
    }
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
/// The broadcast of 4 activation bytes (one quad of k) to every 32-bit lane.
inline __attribute__((always_inline)) __m512i q8_quad(const std::int8_t* x) noexcept {
    std::int32_t v;
    std::memcpy(&v, x, sizeof v);
    return _mm512_set1_epi32(v);
}

/// 64 bytes of weights (16 columns x one quad), flipped to unsigned for `vpdpbusd`.
inline __attribute__((always_inline)) __m512i q8_weights(const std::int8_t* w) noexcept {
    return _mm512_xor_si512(_mm512_loadu_si512(w),
                            _mm512_set1_epi8(static_cast<char>(static_cast<unsigned char>(0x80))));
}

/**
 * @brief `R` rows' chains over one k block for the 32 columns of one sliver (`nr == 32`, two
 *        registers of 16 columns), through `vpdpbusd`: `acc[r][v]` holds columns
 *        `[16 v, 16 v + 16)` of row `r`. `x[r]`, `d[r]`, `o[r]` are row `r`'s values, scales
 *        and offsets from the block's first group. One row with `S` slivers, or `R` rows of
 *        one sliver: the same per-element arithmetic as `q8_sliver_chains`.
 */
template <index_t R, index_t S>
inline __attribute__((always_inline)) void
q8_chains_vnni(const q8_block& b, index_t sliver, const std::int8_t* const (&x)[R],
               const float* const (&d)[R], const std::int32_t* const (&o)[R],
               __m512 (&acc)[R][S][2], const std::int8_t* next = nullptr,
               index_t next_sliver_bytes = 0) noexcept {
    constexpr index_t nr = 32;
    const std::int8_t* w = b.weights + sliver * b.sliver_bytes;
#pragma GCC unroll 8
    for (index_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
        for (index_t s = 0; s < S; ++s) {
            acc[r][s][0] = acc[r][s][1] = _mm512_setzero_ps();
        }
    }
    for (index_t g = 0; g < b.groups; ++g) {
        __m512i dot[R][S][2];
#pragma GCC unroll 8
        for (index_t r = 0; r < R; ++r) {
            const __m512i start = _mm512_set1_epi32(o[r][g]);
#pragma GCC unroll 4
            for (index_t s = 0; s < S; ++s) {
                dot[r][s][0] = dot[r][s][1] = start;
            }
        }
        const std::int8_t* wg = w + g * q8_group * nr;
#pragma GCC unroll 8
        for (index_t t = 0; t < q8_group / 4; ++t) {
            __m512i wv[S][2];
#pragma GCC unroll 4
            for (index_t s = 0; s < S; ++s) {
                wv[s][0] = q8_weights(wg + s * b.sliver_bytes + t * 4 * nr);
                wv[s][1] = q8_weights(wg + s * b.sliver_bytes + t * 4 * nr + 64);
                if (next != nullptr) {
                    const char* ahead = reinterpret_cast<const char*>(
                        next + s * next_sliver_bytes + g * q8_group * nr + t * 4 * nr);
                    _mm_prefetch(ahead, _MM_HINT_T1);
                    _mm_prefetch(ahead + 64, _MM_HINT_T1);
                }
            }
#pragma GCC unroll 8
            for (index_t r = 0; r < R; ++r) {
                const __m512i xq = q8_quad(x[r] + g * q8_group + 4 * t);
#pragma GCC unroll 4
                for (index_t s = 0; s < S; ++s) {
                    dot[r][s][0] = _mm512_dpbusd_epi32(dot[r][s][0], wv[s][0], xq);
                    dot[r][s][1] = _mm512_dpbusd_epi32(dot[r][s][1], wv[s][1], xq);
                }
            }
        }
#pragma GCC unroll 4
        for (index_t s = 0; s < S; ++s) {
            const float* sg = b.scales + g * b.scale_stride + (sliver + s) * nr;
            const __m512 s0 = _mm512_loadu_ps(sg);
            const __m512 s1 = _mm512_loadu_ps(sg + 16);
#pragma GCC unroll 8
            for (index_t r = 0; r < R; ++r) {
                const __m512 dr = _mm512_set1_ps(d[r][g]);
                acc[r][s][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][s][0]),
                                               _mm512_mul_ps(s0, dr), acc[r][s][0]);
                acc[r][s][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][s][1]),
                                               _mm512_mul_ps(s1, dr), acc[r][s][1]);
            }
        }
    }
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
/**
 * @brief `R` rows' chains over one k block for the `Nr` columns of one sliver, on AVX2: each
 *        quad's products through `vpmaddubsw` on |x| and the weights carrying x's sign (no
 *        pair exceeds 2 * 127 * 127, so nothing saturates), summed to 32 bits by `vpmaddwd`.
 *        `acc[r]` holds row `r`'s chains, column by column: the same integers as
 *        `q8_sliver_chains`, hence the same bits. `x[r]`, `d[r]` as for `q8_chains_vnni`.
 */
template <index_t R, index_t Nr>
inline void q8_chains_avx2(const q8_block& b, index_t sliver, const std::int8_t* const (&x)[R],
                           const float* const (&d)[R], float (&acc)[R][Nr]) noexcept {
    static_assert(Nr % 8 == 0, "q8_chains_avx2: whole registers of 8 columns");
    constexpr index_t nv = Nr / 8;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 chain[R][nv];
    for (index_t r = 0; r < R; ++r) {
        for (index_t v = 0; v < nv; ++v) {
            chain[r][v] = _mm256_setzero_ps();
        }
    }
    for (index_t g = 0; g < b.groups; ++g) {
        __m256i dot[R][nv];
        for (index_t r = 0; r < R; ++r) {
            for (index_t v = 0; v < nv; ++v) {
                dot[r][v] = _mm256_setzero_si256();
            }
        }
        const std::int8_t* wg = b.weights + sliver * b.sliver_bytes + g * q8_group * Nr;
        for (index_t t = 0; t < q8_group / 4; ++t) {
            for (index_t r = 0; r < R; ++r) {
                std::int32_t quad;
                std::memcpy(&quad, x[r] + g * q8_group + 4 * t, sizeof quad);
                const __m256i xq = _mm256_set1_epi32(quad);
                const __m256i magnitude = _mm256_abs_epi8(xq);
                for (index_t v = 0; v < nv; ++v) {
                    const __m256i w = _mm256_loadu_si256(
                        reinterpret_cast<const __m256i*>(wg + t * 4 * Nr + v * 32));
                    const __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w, xq));
                    dot[r][v] = _mm256_add_epi32(dot[r][v], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        const float* sg = b.scales + g * b.scale_stride + sliver * Nr;
        for (index_t r = 0; r < R; ++r) {
            const __m256 dr = _mm256_set1_ps(d[r][g]);
            for (index_t v = 0; v < nv; ++v) {
                chain[r][v] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r][v]),
                                    _mm256_mul_ps(_mm256_loadu_ps(sg + v * 8), dr), chain[r][v]);
            }
        }
    }
    for (index_t r = 0; r < R; ++r) {
        for (index_t v = 0; v < nv; ++v) {
            _mm256_storeu_ps(acc[r] + v * 8, chain[r][v]);
        }
    }
}
#endif

} // namespace ctt::kernels::detail
