#pragma once
/**
 * @file
 * @brief Scalar twin of `kernels/conv2d.hpp`: the convolution as its definition, one running
 *        sum per output element over `(ci, kh, kw)` in that order, out-of-image taps skipped.
 */

#include <cstddef>

#include "ctt/core/shape.hpp"
#include "ctt/kernels/detail/conv2d_types.hpp"

namespace ctt::kernels::reference {

/**
 * @brief `out[b, co, oh, ow] = bias[co] + sum W[co, ci, kh, kw] * in[b, ci, ih, iw]` with
 *        `ih = oh*sh - ph + kh*dh`, `iw = ow*sw - pw + kw*dw` (`+=` with `p.accumulate`);
 *        the same arguments as `kernels::conv2d`.
 */
inline void conv2d(const conv2d_geometry& g, const conv2d_params& p, const float* in,
                   index_t in_image_stride, const float* weight, const float* bias, float* out,
                   index_t out_image_stride) {
    const index_t out_h = g.out_height(p);
    const index_t out_w = g.out_width(p);
    for (index_t b = 0; b < g.batch; ++b) {
        const float* image = in + b * in_image_stride;
        for (index_t co = 0; co < g.out_channels; ++co) {
            for (index_t oh = 0; oh < out_h; ++oh) {
                for (index_t ow = 0; ow < out_w; ++ow) {
                    double sum = bias != nullptr ? bias[co] : 0.0;
                    for (index_t ci = 0; ci < g.in_channels; ++ci) {
                        for (index_t kh = 0; kh < g.kernel_h; ++kh) {
                            const auto ih = static_cast<std::ptrdiff_t>(
                                oh * p.stride_h + kh * p.dilation_h - p.pad_h);
                            if (oh * p.stride_h + kh * p.dilation_h < p.pad_h ||
                                ih >= static_cast<std::ptrdiff_t>(g.height)) {
                                continue;
                            }
                            for (index_t kw = 0; kw < g.kernel_w; ++kw) {
                                const auto iw = static_cast<std::ptrdiff_t>(
                                    ow * p.stride_w + kw * p.dilation_w - p.pad_w);
                                if (ow * p.stride_w + kw * p.dilation_w < p.pad_w ||
                                    iw >= static_cast<std::ptrdiff_t>(g.width)) {
                                    continue;
                                }
                                const float w =
                                    weight[((co * g.in_channels + ci) * g.kernel_h + kh) *
                                               g.kernel_w +
                                           kw];
                                sum += static_cast<double>(w) *
                                       image[(ci * g.height + static_cast<index_t>(ih)) * g.width +
                                             static_cast<index_t>(iw)];
                            }
                        }
                    }
                    float& o = out[b * out_image_stride + (co * out_h + oh) * out_w + ow];
                    o = p.accumulate ? o + static_cast<float>(sum) : static_cast<float>(sum);
                }
            }
        }
    }
}

} // namespace ctt::kernels::reference
