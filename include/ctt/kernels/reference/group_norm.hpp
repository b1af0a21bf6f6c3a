#pragma once
/**
 * @file
 * @brief Scalar twin of `kernels/group_norm.hpp`: every statistic in double precision.
 */

#include <cmath>

#include "ctt/core/shape.hpp"

namespace ctt::kernels::reference {

/**
 * @brief Group norm of `batch` dense images of `channels x plane` floats; `gamma`, `beta`
 *        nullable; `silu` applies `y * sigmoid(y)` afterwards. Same arguments as
 *        `kernels::group_norm`.
 */
inline void group_norm(index_t batch, index_t channels, index_t plane, index_t groups,
                       const float* x, index_t x_stride, const float* gamma, const float* beta,
                       float eps, float* out, index_t out_stride, bool silu = false) {
    const index_t per_group = channels / groups;
    const index_t n = per_group * plane;
    for (index_t b = 0; b < batch; ++b) {
        for (index_t g = 0; g < groups; ++g) {
            const float* xg = x + b * x_stride + g * n;
            float* og = out + b * out_stride + g * n;
            double mean = 0;
            for (index_t i = 0; i < n; ++i) {
                mean += xg[i];
            }
            mean /= static_cast<double>(n);
            double var = 0;
            for (index_t i = 0; i < n; ++i) {
                var += (xg[i] - mean) * (xg[i] - mean);
            }
            var /= static_cast<double>(n);
            const double rstd = 1.0 / std::sqrt(var + eps);
            for (index_t i = 0; i < n; ++i) {
                const index_t c = g * per_group + i / plane;
                double y = (xg[i] - mean) * rstd;
                if (gamma != nullptr) {
                    y *= gamma[c];
                }
                if (beta != nullptr) {
                    y += beta[c];
                }
                if (silu) {
                    y = y / (1.0 + std::exp(-y));
                }
                og[i] = static_cast<float>(y);
            }
        }
    }
}

} // namespace ctt::kernels::reference
