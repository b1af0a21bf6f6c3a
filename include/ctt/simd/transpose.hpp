#pragma once
/**
 * @file
 * @brief In-register transposition of square blocks, for packing kernels (the key tile of
 *        flash attention is packed transposed so that `Q K^T` runs as a GEMM micro-kernel).
 *
 * On AVX-512 a 16 x 16 block is transposed in four shuffle stages (unpack lo/hi of floats,
 * then of float pairs, then two 128-bit lane shuffles): 64 shuffles for 256 elements instead
 * of 256 scalar loads and stores. Other targets use the scalar loop.
 */

#include <cstddef>

#include "ctt/simd/batch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ctt::simd {

/// Side of the block `transpose_block` handles.
inline constexpr std::size_t transpose_block_size = 16;

#if defined(__AVX512F__)
/**
 * @brief Transposes the 16 x 16 floats held in `r` (row `i` in `r[i]`) in place: afterwards
 *        `r[c]` holds column `c`. Integer data (pairs of 16-bit values, say) transposes through
 *        the casts, since the shuffles move 32-bit lanes as they are.
 */
inline void transpose_registers(__m512 (&r)[16]) noexcept {
    __m512 t[16];
    // Stage 1: interleave floats of row pairs.
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // Stage 2: interleave float pairs of groups of four rows.
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // Stage 3: gather 128-bit lanes of groups of eight rows.
    for (int h = 0; h < 16; h += 8) {
        for (int i = 0; i < 4; ++i) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
    }
    // Stage 4: gather 128-bit lanes across the two halves.
    for (int i = 0; i < 8; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}
#endif

/**
 * @brief `dst[c * ldd + r] = src[r * lds + c]` for `r, c < 16`.
 */
inline void transpose_block(const float* src, std::size_t lds, float* dst,
                            std::size_t ldd) noexcept {
#if defined(__AVX512F__)
    __m512 r[16];
    for (int i = 0; i < 16; ++i) {
        r[i] = _mm512_loadu_ps(src + static_cast<std::size_t>(i) * lds);
    }
    transpose_registers(r);
    for (int i = 0; i < 16; ++i) {
        _mm512_storeu_ps(dst + static_cast<std::size_t>(i) * ldd, r[i]);
    }
#else
    for (std::size_t i = 0; i < transpose_block_size; ++i) {
        for (std::size_t j = 0; j < transpose_block_size; ++j) {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
#endif
}

} // namespace ctt::simd
