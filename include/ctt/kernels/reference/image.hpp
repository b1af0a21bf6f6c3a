#pragma once
/**
 * @file
 * @brief Scalar twins of `kernels/image.hpp`: nearest upsampling by 2 and channel
 *        concatenation as index formulas, element by element.
 */

#include "ctt/core/shape.hpp"

namespace ctt::kernels::reference {

/** @brief `out[b, c, y, x] = in[b, c, y / 2, x / 2]`; same arguments as the fast kernel. */
inline void upsample_nearest2x(index_t batch, index_t channels, index_t height, index_t width,
                               const float* in, index_t in_stride, float* out, index_t out_stride) {
    for (index_t b = 0; b < batch; ++b) {
        for (index_t c = 0; c < channels; ++c) {
            for (index_t y = 0; y < 2 * height; ++y) {
                for (index_t x = 0; x < 2 * width; ++x) {
                    out[b * out_stride + (c * 2 * height + y) * 2 * width + x] =
                        in[b * in_stride + (c * height + y / 2) * width + x / 2];
                }
            }
        }
    }
}

/**
 * @brief `out[b] = [a[b]; b_[b]]` along channels, for `batch` dense images of `ca` and `cb`
 *        planes of `plane` floats.
 */
inline void concat_channels(index_t batch, index_t ca, index_t cb, index_t plane, const float* a,
                            const float* b, float* out) {
    for (index_t n = 0; n < batch; ++n) {
        for (index_t c = 0; c < ca + cb; ++c) {
            for (index_t i = 0; i < plane; ++i) {
                out[(n * (ca + cb) + c) * plane + i] =
                    c < ca ? a[(n * ca + c) * plane + i] : b[(n * cb + c - ca) * plane + i];
            }
        }
    }
}

} // namespace ctt::kernels::reference
