#pragma once
/**
 * @file
 * @brief Vocabulary shared by `kernels/conv2d.hpp` and its scalar twin: the geometry of a
 *        convolution (`conv2d_params`, `kernels::conv2d_geometry`) and PyTorch's output extent.
 */

#include "ctt/core/shape.hpp"

namespace ctt {

/**
 * @brief Geometry of a convolution besides its kernel size, as `nn.Conv2d` takes it:
 *        stride, zero padding on each side and dilation, per axis.
 */
struct conv2d_params {
    index_t stride_h = 1;
    index_t stride_w = 1;
    index_t pad_h = 0;
    index_t pad_w = 0;
    index_t dilation_h = 1;
    index_t dilation_w = 1;
    /// `out += conv(x)` instead of `out = conv(x)` (a residual added in the same pass).
    bool accumulate = false;

    /** @brief The same stride, padding and dilation on both axes. */
    [[nodiscard]] static constexpr conv2d_params square(index_t stride, index_t pad,
                                                        index_t dilation = 1) noexcept {
        return {stride, stride, pad, pad, dilation, dilation, false};
    }
};

/** @brief Output extent of a convolution along one axis (PyTorch's formula). */
[[nodiscard]] constexpr index_t conv2d_output_extent(index_t in, index_t kernel, index_t stride,
                                                     index_t pad, index_t dilation) noexcept {
    const index_t span = dilation * (kernel - 1) + 1;
    return in + 2 * pad < span ? 0 : (in + 2 * pad - span) / stride + 1;
}

namespace kernels {

/** @brief Sizes of one convolution: images, channels, input and kernel extents. */
struct conv2d_geometry {
    index_t batch = 1;
    index_t in_channels = 0;
    index_t height = 0;
    index_t width = 0;
    index_t out_channels = 0;
    index_t kernel_h = 0;
    index_t kernel_w = 0;

    [[nodiscard]] constexpr index_t out_height(const conv2d_params& p) const noexcept {
        return conv2d_output_extent(height, kernel_h, p.stride_h, p.pad_h, p.dilation_h);
    }
    [[nodiscard]] constexpr index_t out_width(const conv2d_params& p) const noexcept {
        return conv2d_output_extent(width, kernel_w, p.stride_w, p.pad_w, p.dilation_w);
    }
};

} // namespace kernels

} // namespace ctt
