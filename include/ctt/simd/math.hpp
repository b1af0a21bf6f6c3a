#pragma once
/**
 * @file
 * @brief Vectorised `exp`, `tanh` and `erf` on `xsimd::batch<float, A>` for any architecture
 *        `A` (sse2, avx2, avx512), plus helpers that apply them to arrays and single floats.
 *
 * Each function is a polynomial approximation whose coefficients were fitted for ctt in 50-digit
 * arithmetic (mpmath): a least-squares fit of the relative error on Chebyshev nodes, reweighted
 * towards minimax (Lawson's iteration), with the coefficients rounded to float one at a time from
 * the constant term up and the higher ones refitted to absorb each rounding.
 * The accuracy quoted on each function is the worst error that `tests/simd/math_test.cpp`
 * measures against double-precision `std::exp`/`std::tanh`/`std::erf` over every 61st float bit
 * pattern (both signs, subnormals, huge values, infinities and NaN included).
 *
 * Special values follow C's `<cmath>`: NaN in gives NaN out; `exp(-inf) == 0` and every input
 * below about -103.97 gives exactly `+0` (softmax relies on it to zero masked scores);
 * `exp(x) == +inf` for x above about 88.72; `tanh(+-inf) == +-1`; `erf(+-inf) == +-1`;
 * `tanh(-0) == erf(-0) == -0`.
 */

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ctt/simd/batch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ctt::simd {

namespace detail {

/// Horner's scheme with coefficients from the constant term up: c0 + x (c1 + x (c2 + ...)).
template <class B>
[[nodiscard]] inline B horner(const B& /*x*/, float c0) noexcept {
    return B(c0);
}
template <class B, class... Cs>
[[nodiscard]] inline B horner(const B& x, float c0, float c1, Cs... rest) noexcept {
    return xsimd::fma(horner(x, c1, rest...), x, B(c0));
}

/// 2^n for integer `n` in [-126, 127] built directly in the exponent field.
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> pow2i(const xsimd::batch<std::int32_t, A>& n) noexcept {
    return xsimd::bitwise_cast<xsimd::batch<float, A>>((n + 127) << 23);
}

} // namespace detail

namespace detail {

#if defined(__AVX512F__)
template <class A>
inline constexpr bool is_avx512 = std::is_base_of_v<xsimd::avx512f, A>;
#else
template <class A>
inline constexpr bool is_avx512 = false;
#endif

/// `min(hi, max(lo, x))`. On AVX-512 NaN passes through; elsewhere the caller restores it.
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> clamp_for_exp(const xsimd::batch<float, A>& x, float lo,
                                                          float hi) noexcept {
    using B = xsimd::batch<float, A>;
#if defined(__AVX512F__)
    if constexpr (is_avx512<A>) {
        // max/min return their second operand when either is NaN.
        return B(_mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), x)));
    }
#endif
    return xsimd::min(xsimd::max(x, B(lo)), B(hi));
}

/// e^x = p 2^n for x in [-104, 89]: the range reduction and polynomial of `exp` and `exp_ftz`.
template <class B>
inline void exp_parts(const B& x, B& n, B& p) noexcept {
    n = xsimd::nearbyint(x * B(1.442695022e+00f));
    // ln2 = ln2_hi + ln2_lo, ln2_hi with 9 significant bits so that n * ln2_hi is exact.
    B r = xsimd::fnma(n, B(6.933593750e-01f), x);
    r = xsimd::fnma(n, B(-2.121944417e-04f), r);
    const B q = horner(r, 4.999999404e-01f, 1.666652113e-01f, 4.166825861e-02f, 8.368669078e-03f,
                       1.382136019e-03f);
    p = xsimd::fma(r * r, q, r) + B(1.0f);
}

/// Below this e^x is subnormal (ln 2^-126 = -87.3365...); `exp_ftz` returns 0 there.
inline constexpr float exp_normal_min = -87.33f;

} // namespace detail

/**
 * @brief e^x, accurate to 1 ULP in the normal range (measured worst: see below).
 *
 * Range reduction x = n ln2 + r with |r| <= ln2/2 (Cody and Waite's two-constant split of ln2,
 * applied with fused multiply-adds), e^r = 1 + r + r^2 q(r) with q of degree 4, then the result
 * is scaled by 2^n: with one `vscalefps` on AVX-512, elsewhere in two exponent-field steps
 * 2^(n/2) 2^(n - n/2). Either way results in the subnormal range are rounded once and inputs
 * below about -103.97 give exactly 0.
 *
 * Measured worst error (math_test, every 61st float, vs double std::exp): 1.003 ULP (at
 * x = 26.72), subnormal results included (counted in units of the smallest subnormal).
 */
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> exp(const xsimd::batch<float, A>& x) noexcept {
    using B = xsimd::batch<float, A>;
    using I = xsimd::batch<std::int32_t, A>;
    // Beyond these bounds the answer is +inf or +0; clamping keeps 2^n representable in
    // two steps and lets the final multiply overflow or underflow by itself.
    B n;
    B p;
    detail::exp_parts(detail::clamp_for_exp(x, -104.0f, 89.0f), n, p);
#if defined(__AVX512F__)
    if constexpr (detail::is_avx512<A>) {
        return B(_mm512_scalef_ps(p, n));
    }
#endif
    const I ni = xsimd::to_int(n);
    const I n1 = ni >> 1;
    const B y = (p * detail::pow2i<A>(n1)) * detail::pow2i<A>(ni - n1);
    return xsimd::select(xsimd::isnan(x), x, y);
}

/**
 * @brief e^x flushed to zero where it would be subnormal (x < -87.33): equal to `exp` for
 *        every other input, NaN included.
 *
 * The exponential of the softmax kernels. Probabilities below 2^-126 change no sum of
 * probabilities that includes the maximum (which is 1), but as operands they make x86 FMAs
 * take microcode assists: attention with large logits (T5 runs unscaled) ran 30% slower in
 * its `P V` product before this.
 */
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> exp_ftz(const xsimd::batch<float, A>& x) noexcept {
    using B = xsimd::batch<float, A>;
#if defined(__AVX512F__)
    if constexpr (detail::is_avx512<A>) {
        B n;
        B p;
        detail::exp_parts(detail::clamp_for_exp(x, detail::exp_normal_min, 89.0f), n, p);
        // Lanes not below the bound (NaN included: unordered compares true) keep p 2^n.
        const __mmask16 keep =
            _mm512_cmp_ps_mask(x, _mm512_set1_ps(detail::exp_normal_min), _CMP_NLT_UQ);
        return B(_mm512_maskz_scalef_ps(keep, p, n));
    }
#endif
    return xsimd::select(x < B(detail::exp_normal_min), B(0.0f), exp(x));
}

/**
 * @brief tanh(x).
 *
 * For |x| < 0.75 an odd polynomial x + x^3 P(x^2) (P of degree 6); above it
 * tanh|x| = 1 - 2 / (e^(2|x|) + 1) with `exp` above, which saturates to exactly 1 and needs no
 * overflow guard (e^(2|x|) = inf gives 1). The sign is copied back from x.
 *
 * Measured worst error (math_test, every 61st float, vs double std::tanh): 1.06 ULP (at
 * x = 0.766, just above the switch to the exp path).
 */
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> tanh(const xsimd::batch<float, A>& x) noexcept {
    using B = xsimd::batch<float, A>;
    const B ax = xsimd::abs(x);
    const B x2 = x * x;
    const B small = xsimd::fma(
        ax * x2,
        detail::horner(x2, -3.333333135e-01f, 1.333324909e-01f, -5.395606160e-02f, 2.178477123e-02f,
                       -8.541855030e-03f, 2.894676523e-03f, -5.928163300e-04f),
        ax);
    const B e = ctt::simd::exp(ax + ax);
    const B large = B(1.0f) - B(2.0f) / (e + B(1.0f));
    return xsimd::copysign(xsimd::select(ax < B(0.75f), small, large), x);
}

/**
 * @brief erf(x).
 *
 * For |x| < 1, erf(x) = x P(x^2) with P of degree 6. Above, erf|x| = 1 - e^(-x^2) R(1/|x|)
 * with R of degree 8 fitted to erfc(x) e^(x^2) on [1, 3.95]; e^(-x^2) is computed from
 * x^2 split exactly into a rounded square and its fma remainder, so that the rounding of x^2
 * does not reach the result. Past |x| = 3.95, erfc is below half an ULP of 1 and the formula
 * gives exactly 1. (Abramowitz and Stegun 7.1.26 has the same structure with a cruder fit.)
 *
 * Measured worst error (math_test, every 61st float, vs double std::erf): 1.92 ULP (at
 * x = 0.998, the end of the polynomial branch, where x P(x^2) cancels most); 2.2 ULP when
 * built for SSE2 alone, where fused multiply-adds are emulated by a multiply and an add.
 */
template <class A>
[[nodiscard]] inline xsimd::batch<float, A> erf(const xsimd::batch<float, A>& x) noexcept {
    using B = xsimd::batch<float, A>;
    const B ax = xsimd::abs(x);
    const B x2 = x * x;
    // 2/sqrt(pi) as a float plus its remainder, so that tiny |x| are rounded correctly.
    const B p = detail::horner(x2, -3.761262894e-01f, 1.128360555e-01f, -2.685438469e-02f,
                               5.189101677e-03f, -8.015106432e-04f, 7.865404041e-05f);
    const B small =
        xsimd::fma(ax, B(1.128379226e+00f), ax * xsimd::fma(p, x2, B(-5.863538342e-08f)));
    const B t = xsimd::min(xsimd::max(ax, B(1.0f)), B(3.95f));
    const B u = B(1.0f) / t;
    const B r = detail::horner(u, 6.807859172e-04f, 5.534791946e-01f, 7.439110428e-02f,
                               -5.773112178e-01f, 7.083683014e-01f, -5.075825453e-01f,
                               2.286733687e-01f, -6.020688638e-02f, 7.091470528e-03f);
    const B t2 = t * t;
    const B t2_low = xsimd::fms(t, t, t2); // t^2 == t2 + t2_low exactly
    const B g = ctt::simd::exp(-t2) * (B(1.0f) - t2_low);
    const B large = xsimd::fnma(g, r, B(1.0f));
    const B y = xsimd::copysign(xsimd::select(ax < B(1.0f), small, large), x);
    return xsimd::select(xsimd::isnan(x), x, y);
}

namespace detail {
template <class F>
inline void apply_to_array(const float* x, float* y, std::size_t n, F f) noexcept {
    for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        store_n(y + i, f(load_n(x + i, lanes)), lanes);
    });
}
} // namespace detail

/// @brief y[i] = exp(x[i]) for i < n with the vector `exp` above; `y` may equal `x`.
inline void exp(const float* x, float* y, std::size_t n) noexcept {
    detail::apply_to_array(x, y, n, [](const batch<float>& v) { return ctt::simd::exp(v); });
}
/// @brief y[i] = tanh(x[i]) for i < n; `y` may equal `x`.
inline void tanh(const float* x, float* y, std::size_t n) noexcept {
    detail::apply_to_array(x, y, n, [](const batch<float>& v) { return ctt::simd::tanh(v); });
}
/// @brief y[i] = erf(x[i]) for i < n; `y` may equal `x`.
inline void erf(const float* x, float* y, std::size_t n) noexcept {
    detail::apply_to_array(x, y, n, [](const batch<float>& v) { return ctt::simd::erf(v); });
}

/// @brief The vector `exp` applied to one float (bit-identical to a lane of the batch version).
[[nodiscard]] inline float exp(float x) noexcept {
    return ctt::simd::exp(batch<float>(x)).get(0);
}
/// @brief The vector `tanh` applied to one float.
[[nodiscard]] inline float tanh(float x) noexcept {
    return ctt::simd::tanh(batch<float>(x)).get(0);
}
/// @brief The vector `erf` applied to one float.
[[nodiscard]] inline float erf(float x) noexcept {
    return ctt::simd::erf(batch<float>(x)).get(0);
}

} // namespace ctt::simd
