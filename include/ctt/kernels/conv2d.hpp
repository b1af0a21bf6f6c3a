#pragma once
/**
 * @file
 * @brief 2-D convolution over NCHW images (PyTorch `nn.Conv2d` with `groups = 1`, the layout
 *        HF and diffusers store): weights `[Cout, Cin, KH, KW]`, optional bias `[Cout]`, any
 *        kernel size, stride, padding (zeros) and dilation.
 *
 * One image is the product `out[Cout, Ho*Wo] = W[Cout, Cin*KH*KW] * col[Cin*KH*KW, Ho*Wo]`,
 * computed as an implicit GEMM (Chellapilla et al., "High performance convolutional neural
 * networks for document processing", 2006, for the lowering; cuDNN's implicit GEMM for not
 * materialising it): the packed GEMM's loop nest and micro-kernel
 * (`kernels/detail/gemm_kernel.hpp`) run unchanged, and only the packing of B differs. It
 * reads each `kc x nr` sliver of the virtual `col` matrix straight from the image, one run
 * of contiguous input pixels per output row (zeros where the window leaves the image), so
 * `col` never exists and there is no workspace beyond the GEMM's per-thread packing buffers,
 * which grow once and are reused. A 1x1 convolution with stride 1 and no padding is a plain
 * GEMM on the image itself.
 *
 * Threads split the output pixels of each image in multiples of the micro-tile width, as the
 * GEMM splits its columns, so the result does not depend on the thread count.
 */

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/conv2d_types.hpp"
#include "ctt/kernels/detail/gemm_kernel.hpp"
#include "ctt/kernels/detail/gemm_types.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt {

namespace kernels {

namespace detail {

/// Where one output row's share of a B sliver reads from: columns `[col, col + count)` of
/// the sliver are output pixels `(oh, ow0 .. ow0 + count)`.
struct conv_run {
    index_t col;
    index_t count;
    index_t oh;
    index_t ow0;
};

/**
 * @brief Packs rows `[k0, k0 + kc)` and output pixels `[j0, j0 + nc)` of one image's virtual
 *        `col` matrix into the GEMM's `nr`-column slivers (the layout of `pack_b`).
 *
 * Row `k` of `col` is input channel `k / (KH*KW)` seen through kernel tap `(kh, kw)`: the
 * pixel `(oh*sh - ph + kh*dh, ow*sw - pw + kw*dw)`, or zero outside the image. With stride 1
 * along w, each output-row run of a sliver is one contiguous input run, copied with its
 * clipped ends zeroed.
 */
inline void pack_conv_b(const conv2d_geometry& g, const conv2d_params& p, index_t out_w,
                        const float* image, index_t k0, index_t kc, index_t j0, index_t nc,
                        float* pb) {
    using coord = std::ptrdiff_t; // input coordinates go negative in the padding
    constexpr index_t nr = gemm_blocking::nr;
    const index_t taps = g.kernel_h * g.kernel_w;
    const index_t plane = g.height * g.width;
    const auto height = static_cast<coord>(g.height);
    const auto width = static_cast<coord>(g.width);
    conv_run runs[nr];
    for (index_t s = 0; s < nc; s += nr) {
        const index_t cols = std::min(nr, nc - s);
        float* dst = pb + s * kc;
        index_t run_count = 0;
        for (index_t c = 0; c < cols;) {
            const index_t pixel = j0 + s + c;
            const index_t oh = pixel / out_w;
            const index_t ow = pixel - oh * out_w;
            const index_t count = std::min(cols - c, out_w - ow);
            runs[run_count++] = {c, count, oh, ow};
            c += count;
        }
        index_t ci = k0 / taps;
        index_t tap = k0 - ci * taps;
        for (index_t r = 0; r < kc; ++r) {
            const index_t kh = tap / g.kernel_w;
            const index_t kw = tap - kh * g.kernel_w;
            const float* channel = image + ci * plane;
            float* row = dst + r * nr;
            for (index_t u = 0; u < run_count; ++u) {
                const conv_run& run = runs[u];
                float* out = row + run.col;
                const auto count = static_cast<coord>(run.count);
                const coord ih = static_cast<coord>(run.oh * p.stride_h + kh * p.dilation_h) -
                                 static_cast<coord>(p.pad_h);
                if (ih < 0 || ih >= height) {
                    std::fill_n(out, run.count, 0.f);
                    continue;
                }
                const float* in_row = channel + ih * width;
                const coord iw0 = static_cast<coord>(run.ow0 * p.stride_w + kw * p.dilation_w) -
                                  static_cast<coord>(p.pad_w);
                if (p.stride_w == 1) {
                    // Valid outputs: 0 <= iw0 + t < width.
                    const coord lo = std::clamp<coord>(-iw0, 0, count);
                    const coord hi = std::clamp<coord>(width - iw0, lo, count);
                    std::fill(out, out + lo, 0.f);
                    if (hi > lo) {
                        std::memcpy(out + lo, in_row + iw0 + lo,
                                    static_cast<std::size_t>(hi - lo) * sizeof(float));
                    }
                    std::fill(out + hi, out + count, 0.f);
                } else {
                    const auto sw = static_cast<coord>(p.stride_w);
                    for (coord t = 0; t < count; ++t) {
                        const coord iw = iw0 + t * sw;
                        out[t] = iw >= 0 && iw < width ? in_row[iw] : 0.f;
                    }
                }
            }
            std::fill(row + cols, row + nr, 0.f);
            if (++tap == taps) {
                tap = 0;
                ++ci;
            }
        }
    }
}

/// `out[co, j] = bias[co]` (or `+=` it) for the pixels `[j0, j0 + n)` of one image.
inline void conv_init_rows(index_t m, index_t ldc, index_t j0, index_t n, float* c,
                           const float* bias, bool accumulate) {
    for (index_t i = 0; i < m; ++i) {
        float* row = c + i * ldc + j0;
        if (accumulate) {
            for (index_t j = 0; j < n; ++j) {
                row[j] += bias[i];
            }
        } else {
            std::fill_n(row, n, bias[i]);
        }
    }
}

/**
 * @brief One thread's share of one image: output pixels `[j0, j0 + n)`, the GEMM loop nest of
 *        `gemm_serial` with the implicit B packing.
 */
inline void conv2d_serial(const conv2d_geometry& g, const conv2d_params& p, index_t out_w,
                          index_t pixels, const float* image, const float* weight,
                          const float* bias, float* out, index_t j0, index_t n) {
    using blk = gemm_blocking;
    const index_t m = g.out_channels;
    const index_t k = g.in_channels * g.kernel_h * g.kernel_w;
    if (bias != nullptr) {
        conv_init_rows(m, pixels, j0, n, out, bias, p.accumulate);
    }
    const bool load_first = bias != nullptr || p.accumulate;
    const index_t kc_max = std::min(k, blk::kc);
    const index_t mc_max = (std::min(m, blk::mc) + blk::mr - 1) / blk::mr * blk::mr;
    const index_t nc_max = (std::min(n, blk::nc) + blk::nr - 1) / blk::nr * blk::nr;
    float* pb = thread_workspace().reserve(kc_max * nc_max + blk::kc * mc_max);
    float* pa = pb + kc_max * nc_max;
    for (index_t jc = 0; jc < n; jc += blk::nc) {
        const index_t nc = std::min(blk::nc, n - jc);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            pack_conv_b(g, p, out_w, image, pc, kc, j0 + jc, nc, pb);
            const tile_epilogue epi{1.f, pc != 0 || load_first, nullptr};
            for (index_t ic = 0; ic < m; ic += blk::mc) {
                const index_t mc = std::min(blk::mc, m - ic);
                pack_a(mc, kc, weight + ic * k + pc, k, pa);
                for (index_t jr = 0; jr < nc; jr += blk::nr) {
                    const index_t cols = std::min(blk::nr, nc - jr);
                    for (index_t ir = 0; ir < mc; ir += blk::mr) {
                        const index_t rows = std::min(blk::mr, mc - ir);
                        float* c_tile = out + (ic + ir) * pixels + j0 + jc + jr;
                        if (rows == blk::mr) {
                            micro_kernel<blk::mr>(kc, pa + ir * blk::kc, pb + jr * kc, c_tile,
                                                  pixels, rows, cols, epi);
                        } else {
                            micro_kernel_short(kc, pa + ir * blk::kc, pb + jr * kc, c_tile, pixels,
                                               rows, cols, epi);
                        }
                    }
                }
            }
        }
    }
}

} // namespace detail

/**
 * @brief `out[b] = conv2d(in[b], weight) + bias` for every image `b` (or `+=` with
 *        `p.accumulate`), raw pointers: `in` holds `batch` images of `[Cin, H, W]` floats
 *        `in_image_stride` apart, `weight` is `[Cout, Cin, KH, KW]` contiguous, `bias` is
 *        nullable with `Cout` values, and `out` holds `[Cout, Ho, Wo]` per image,
 *        `out_image_stride` apart (a channel slice of a wider, concatenated buffer is fine).
 *        `out` must not overlap `in`.
 */
inline void conv2d(const conv2d_geometry& g, const conv2d_params& p, const float* in,
                   index_t in_image_stride, const float* weight, const float* bias, float* out,
                   index_t out_image_stride) {
    const index_t out_h = g.out_height(p);
    const index_t out_w = g.out_width(p);
    const index_t pixels = out_h * out_w;
    const index_t m = g.out_channels;
    const index_t k = g.in_channels * g.kernel_h * g.kernel_w;
    if (pixels == 0 || m == 0) {
        return;
    }
    const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && p.stride_h == 1 &&
                           p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
    for (index_t b = 0; b < g.batch; ++b) {
        const float* image = in + b * in_image_stride;
        float* o = out + b * out_image_stride;
        if (pointwise) {
            // `out[Cout, HW] = W[Cout, Cin] * in[Cin, HW]`: the image is B as it stands.
            if (bias != nullptr) {
                detail::conv_init_rows(m, pixels, 0, pixels, o, bias, p.accumulate);
            }
            gemm(m, pixels, k, weight, k, image, pixels, transpose::no, o, pixels, 1.f,
                 bias != nullptr || p.accumulate);
            continue;
        }
        using blk = detail::gemm_blocking;
        int threads = simd::max_threads();
        if (static_cast<double>(m) * static_cast<double>(pixels) * static_cast<double>(k) < 1.0e6) {
            threads = 1;
        }
        const index_t col_tiles = (pixels + blk::nr - 1) / blk::nr;
        const auto t = static_cast<index_t>(threads);
        if (threads > 1 && col_tiles >= 2 * t) {
            const index_t per = (col_tiles + t - 1) / t * blk::nr;
            simd::parallel_for(
                0, t,
                [&](index_t i) {
                    const index_t j0 = std::min(pixels, i * per);
                    const index_t n = std::min(per, pixels - j0);
                    if (n > 0) {
                        detail::conv2d_serial(g, p, out_w, pixels, image, weight, bias, o, j0, n);
                    }
                },
                threads);
        } else {
            detail::conv2d_serial(g, p, out_w, pixels, image, weight, bias, o, 0, pixels);
        }
    }
}

} // namespace kernels

namespace detail {

/// Checks the extents of a convolution's views and returns its geometry.
template <class SI, class SW, class SO>
inline kernels::conv2d_geometry conv2d_check(const SI& in, const SW& weight, const SO& out,
                                             const conv2d_params& p, index_t bias_len,
                                             bool has_bias) {
    static_assert(SI::rank == 4 && SW::rank == 4 && SO::rank == 4,
                  "conv2d: input, weight and output must be rank-4 views (NCHW, OIHW, NCHW)");
    CTT_CHECK_DIMS(CTT_MSG_CONV_IN_CHANNELS, SI::static_extents[1], SW::static_extents[1],
                   in.extent(1), weight.extent(1));
    CTT_CHECK_DIMS(CTT_MSG_CONV_OUT_CHANNELS, SO::static_extents[1], SW::static_extents[0],
                   out.extent(1), weight.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_CONV_BATCH, SI::static_extents[0], SO::static_extents[0], in.extent(0),
                   out.extent(0));
    if (p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1) {
        throw shape_error("conv2d: stride and dilation must be at least 1");
    }
    const kernels::conv2d_geometry g{in.extent(0),    in.extent(1),     in.extent(2),
                                     in.extent(3),    weight.extent(0), weight.extent(2),
                                     weight.extent(3)};
    check_dims(CTT_MSG_CONV_OUT_HEIGHT, out.extent(2), g.out_height(p));
    check_dims(CTT_MSG_CONV_OUT_WIDTH, out.extent(3), g.out_width(p));
    if (has_bias) {
        check_dims(CTT_MSG_CONV_BIAS, bias_len, g.out_channels);
    }
    return g;
}

/// True when each image of an NCHW view is one dense `[C, H, W]` block.
template <class V>
[[nodiscard]] inline bool dense_images(const V& v) noexcept {
    return v.stride(3) == 1 && v.stride(2) == v.extent(3) &&
           v.stride(1) == v.extent(2) * v.extent(3);
}

template <class TI, class SI, class TW, class SW, class SO>
inline void conv2d_views(tensor_view<TI, SI> in, tensor_view<TW, SW> weight, const float* bias,
                         index_t bias_len, tensor_view<float, SO> out, const conv2d_params& p) {
    const kernels::conv2d_geometry g =
        conv2d_check(in.shape(), weight.shape(), out.shape(), p, bias_len, bias != nullptr);
    if (!dense_images(in) || !dense_images(out) || !weight.is_contiguous()) {
        throw shape_error("conv2d: each image (and the weight) must be dense in C, H, W");
    }
    kernels::conv2d(g, p, in.data(), in.stride(0), weight.data(), bias, out.data(), out.stride(0));
}

} // namespace detail

/**
 * @brief `out = conv2d(in, weight) + bias` (`nn.Conv2d`, groups 1): `in` `[N, Cin, H, W]`,
 *        `weight` `[Cout, Cin, KH, KW]`, `bias` `[Cout]`, `out` `[N, Cout, Ho, Wo]`.
 *        Images must be dense `[C, H, W]` blocks; the batch stride is free, so `out` may be
 *        a channel slice of a concatenation buffer (`channel_slice`).
 */
template <detail::float_element TI, tensor_shape SI, detail::float_element TW, tensor_shape SW,
          detail::float_element TB, tensor_shape SB, tensor_shape SO>
requires(SI::rank == 4 && SW::rank == 4 && SB::rank == 1 &&
         SO::rank == 4) inline void conv2d(tensor_view<TI, SI> in, tensor_view<TW, SW> weight,
                                           tensor_view<TB, SB> bias, tensor_view<float, SO> out,
                                           const conv2d_params& p = {}) {
    CTT_CHECK_DIMS(CTT_MSG_CONV_BIAS, SB::static_extents[0], SW::static_extents[0], bias.extent(0),
                   weight.extent(0));
    detail::conv2d_views(in, weight, bias.data(), bias.extent(0), out, p);
}

/** @brief `out = conv2d(in, weight)` without a bias. */
template <detail::float_element TI, tensor_shape SI, detail::float_element TW, tensor_shape SW,
          tensor_shape SO>
requires(SI::rank == 4 && SW::rank == 4 &&
         SO::rank == 4) inline void conv2d(tensor_view<TI, SI> in, tensor_view<TW, SW> weight,
                                           tensor_view<float, SO> out,
                                           const conv2d_params& p = {}) {
    detail::conv2d_views(in, weight, nullptr, 0, out, p);
}

} // namespace ctt
