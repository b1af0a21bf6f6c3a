#pragma once
/**
 * @file
 * @brief Layout operations of a U-Net over NCHW images: nearest-neighbour upsampling by 2
 *        (PyTorch `F.interpolate(scale_factor=2, mode="nearest")`), and channel
 *        concatenation (`torch.cat(dim=1)`), either as one copy into a preallocated
 *        destination or with no copy at all: `channel_slice` is a view of channels
 *        `[begin, begin + count)` of a wider buffer, into which a producer (a convolution, an
 *        upsampling) writes its output directly.
 */

#include <algorithm>
#include <cstring>
#include <string>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt {

namespace kernels {

/**
 * @brief `out[b, c, 2h + i, 2w + j] = in[b, c, h, w]` for `batch` images of `channels`
 *        planes `height x width`, images `in_stride` and `out_stride` floats apart, planes
 *        dense.
 */
inline void upsample_nearest2x(index_t batch, index_t channels, index_t height, index_t width,
                               const float* in, index_t in_stride, float* out, index_t out_stride) {
    const index_t out_w = 2 * width;
    const auto plane = [&](std::size_t i) {
        const index_t b = static_cast<index_t>(i) / channels;
        const index_t c = static_cast<index_t>(i) - b * channels;
        const float* src = in + b * in_stride + c * height * width;
        float* dst = out + b * out_stride + c * 4 * height * width;
        for (index_t h = 0; h < height; ++h) {
            const float* s = src + h * width;
            float* d = dst + 2 * h * out_w;
            // A plain loop: xsimd's zip_lo/zip_hi interleave within 128-bit lanes on AVX2 and
            // AVX-512, not across the register, and the copy is bound by memory anyway.
            for (index_t w = 0; w < width; ++w) {
                d[2 * w] = s[w];
                d[2 * w + 1] = s[w];
            }
            std::memcpy(d + out_w, d, static_cast<std::size_t>(out_w) * sizeof(float));
        }
    };
    const auto planes = static_cast<std::size_t>(batch * channels);
    if (batch * channels * height * width * 4 >= ctt::detail::parallel_rows_min_elements) {
        simd::parallel_for(0, planes, plane);
    } else {
        for (std::size_t i = 0; i < planes; ++i) {
            plane(i);
        }
    }
}

} // namespace kernels

namespace detail {

/// Throws unless each image of the NCHW view `v` is one dense `[C, H, W]` block.
template <class V>
inline void require_dense_images(const V& v, const char* operation) {
    if (!(v.stride(3) == 1 && v.stride(2) == v.extent(3) &&
          v.stride(1) == v.extent(2) * v.extent(3))) {
        throw shape_error(std::string(operation) + ": each image must be dense in C, H, W");
    }
}

/// Static extent `E` doubled, `dyn` kept.
template <index_t E>
inline constexpr index_t doubled_extent = E == dyn ? dyn : 2 * E;

} // namespace detail

/**
 * @brief `out = interpolate(in, scale_factor=2, mode="nearest")`: `in` `[N, C, H, W]`,
 *        `out` `[N, C, 2H, 2W]`. `out` may be a channel slice of a concatenation buffer.
 */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
requires(SI::rank == 4 &&
         SO::rank == 4) inline void upsample_nearest2x(tensor_view<TI, SI> in,
                                                       tensor_view<float, SO> out) {
    CTT_CHECK_DIMS(CTT_MSG_UPSAMPLE_SHAPES, SI::static_extents[0], SO::static_extents[0],
                   in.extent(0), out.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_UPSAMPLE_SHAPES, SI::static_extents[1], SO::static_extents[1],
                   in.extent(1), out.extent(1));
    CTT_CHECK_DIMS(CTT_MSG_UPSAMPLE_SHAPES, detail::doubled_extent<SI::static_extents[2]>,
                   SO::static_extents[2], 2 * in.extent(2), out.extent(2));
    CTT_CHECK_DIMS(CTT_MSG_UPSAMPLE_SHAPES, detail::doubled_extent<SI::static_extents[3]>,
                   SO::static_extents[3], 2 * in.extent(3), out.extent(3));
    detail::require_dense_images(in, "upsample_nearest2x");
    detail::require_dense_images(out, "upsample_nearest2x");
    kernels::upsample_nearest2x(in.extent(0), in.extent(1), in.extent(2), in.extent(3), in.data(),
                                in.stride(0), out.data(), out.stride(0));
}

/**
 * @brief Channels `[begin, begin + count)` of an `[N, C, H, W]` view, as an `[N, count, H, W]`
 *        view with the same image stride: where a producer writes one operand of a channel
 *        concatenation, so that the concatenation costs no copy.
 */
template <class T, tensor_shape S>
requires(S::rank == 4)
    [[nodiscard]] inline auto channel_slice(tensor_view<T, S> v, index_t begin, index_t count) {
    detail::check_at_most(CTT_MSG_VIEW_BOUNDS, static_cast<std::size_t>(begin + count),
                          static_cast<std::size_t>(v.extent(1)));
    using out_shape = shape<S::static_extents[0], dyn, S::static_extents[2], S::static_extents[3]>;
    const auto e = v.shape().extents();
    return tensor_view<T, out_shape>(v.data() + begin * v.stride(1),
                                     out_shape::from_extents({e[0], count, e[2], e[3]}),
                                     v.strides());
}

/**
 * @brief `out = cat([a, b], dim=1)`: `a` `[N, Ca, H, W]`, `b` `[N, Cb, H, W]`, `out`
 *        `[N, Ca + Cb, H, W]`, one copy of each. An operand whose data already is the
 *        matching channel slice of `out` (written there by its producer) is not copied.
 */
template <detail::rowwise_element TA, tensor_shape SA, detail::rowwise_element TB, tensor_shape SB,
          tensor_shape SO>
requires(SA::rank == 4 && SB::rank == 4 &&
         SO::rank == 4) inline void concat_channels(tensor_view<TA, SA> a, tensor_view<TB, SB> b,
                                                    tensor_view<float, SO> out) {
    for (index_t d : {index_t{0}, index_t{2}, index_t{3}}) {
        detail::check_dims(CTT_MSG_CONCAT_EXTENTS, a.extent(d), out.extent(d));
        detail::check_dims(CTT_MSG_CONCAT_EXTENTS, b.extent(d), out.extent(d));
    }
    detail::check_dims(CTT_MSG_CONCAT_CHANNELS, a.extent(1) + b.extent(1), out.extent(1));
    detail::require_dense_images(a, "concat_channels");
    detail::require_dense_images(b, "concat_channels");
    detail::require_dense_images(out, "concat_channels");
    const index_t plane = out.extent(2) * out.extent(3);
    const index_t a_floats = a.extent(1) * plane;
    const index_t b_floats = b.extent(1) * plane;
    for (index_t n = 0; n < out.extent(0); ++n) {
        float* dst = out.data() + n * out.stride(0);
        const float* pa = a.data() + n * a.stride(0);
        const float* pb = b.data() + n * b.stride(0);
        if (pa != dst) {
            std::memmove(dst, pa, static_cast<std::size_t>(a_floats) * sizeof(float));
        }
        if (pb != dst + a_floats) {
            std::memmove(dst + a_floats, pb, static_cast<std::size_t>(b_floats) * sizeof(float));
        }
    }
}

} // namespace ctt
