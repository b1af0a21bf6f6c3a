#pragma once
/**
 * @file
 * @brief Loads of one register of `float` from narrower storage: bfloat16 and IEEE binary16 bit
 *        patterns. Every conversion is exact (16-bit floats are subsets of float), so a kernel
 *        that widens in registers computes what it would on the widened copy, bit for bit.
 *        (int8 products do not widen: `kernels/detail/q8.hpp`.)
 *
 * AVX-512 and AVX2 use one or two instructions (`vpmovzxwd` + shift, `vcvtph2ps` with F16C);
 * other targets widen through a small buffer.
 */

#include <cstddef>
#include <cstdint>

#include "ctt/io/half.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt::simd {

namespace detail {
/// The portable path: `width<float>` values of `p`, each through `convert`, via a buffer.
template <class T, class Convert>
[[nodiscard]] inline batch<float> widen_through_buffer(const T* p, Convert convert) noexcept {
    alignas(64) float buf[width<float>];
    for (std::size_t i = 0; i < width<float>; ++i) {
        buf[i] = convert(p[i]);
    }
    return batch<float>::load_aligned(buf);
}
} // namespace detail

/// `width<float>` bfloat16 values from `p` (any alignment).
[[nodiscard]] inline batch<float> widen_bf16(const std::uint16_t* p) noexcept {
#if defined(__AVX512F__)
    {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
#elif defined(__AVX2__)
    {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
#else
    return detail::widen_through_buffer(p, [](std::uint16_t v) { return bf16_to_float(v); });
#endif
}

/// `width<float>` IEEE binary16 values from `p` (any alignment).
[[nodiscard]] inline batch<float> widen_f16(const std::uint16_t* p) noexcept {
#if defined(__AVX512F__)
    { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
#elif defined(__AVX2__) && defined(__F16C__)
    { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
#else
    return detail::widen_through_buffer(p, [](std::uint16_t v) { return fp16_to_float(v); });
#endif
}

} // namespace ctt::simd
