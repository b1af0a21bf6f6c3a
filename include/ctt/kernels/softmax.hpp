#pragma once
/**
 * @file
 * @brief Row softmax, `softmax(scale * x + bias)` over the last dimension, numerically stable
 *        (the row maximum is subtracted before `exp`, as in every framework since Bridle 1990).
 *
 * A row whose entries are all `-inf` (a query that may attend to nothing) becomes all zeros, not
 * NaN; `-inf` entries of other rows become exactly 0 (`simd::exp(-inf) == 0`). The bias is a
 * rank-1 row broadcast over all rows (an additive mask, ALiBi for one head) or a view of the
 * same extents as the scores. `out` may be the same view as the input.
 */

#include <cstddef>
#include <limits>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/math.hpp"

namespace ctt {

namespace detail {

/**
 * Softmax of `scale * in + bias` (bias nullable) into `out`, `n` elements. Three passes over a
 * row that is still in L1/L2: scaled scores and their maximum, exponentials and their sum,
 * normalisation.
 */
inline void softmax_row(const float* in, const float* bias, float scale, float* out,
                        std::size_t n) noexcept {
    using batch = simd::batch<float>;
    constexpr float neg_inf = -std::numeric_limits<float>::infinity();
    const batch s(scale);
    batch vmax(neg_inf);
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        batch v = simd::load_n(in + i, lanes) * s;
        if (bias != nullptr) {
            v += simd::load_n(bias + i, lanes);
        }
        if (lanes == simd::width<float>) {
            simd::store(out + i, v);
            vmax = xsimd::max(vmax, v);
        } else {
            simd::store_partial(out + i, v, lanes);
            vmax = xsimd::max(vmax, simd::load_partial(out + i, lanes, neg_inf));
        }
    });
    const float row_max = simd::reduce_max(vmax);
    if (row_max == neg_inf) {
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = 0.f;
        }
        return;
    }
    const batch m(row_max);
    // Tail lanes load -inf so that exp gives 0 there and the sum is unaffected.
    const float sum = sum_row(n, [&](std::size_t i, std::size_t lanes) {
        const bool full = lanes == simd::width<float>;
        const batch e = simd::exp(
            (full ? simd::load(out + i) : simd::load_partial(out + i, lanes, neg_inf)) - m);
        simd::store_n(out + i, e, lanes);
        return e;
    });
    const batch inv(1.f / sum);
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        simd::store_n(out + i, simd::load_n(out + i, lanes) * inv, lanes);
    });
}

template <class TB, class SB, class SI>
inline void check_softmax_bias(const tensor_view<TB, SB>& bias, const SI& in) {
    if constexpr (SB::rank == 1) {
        CTT_CHECK_DIMS(CTT_MSG_SOFTMAX_BIAS, SB::static_extents[0], static_width_v<SI>,
                       bias.extent(0), in.extent(SI::rank - 1));
    } else {
        CTT_CHECK_SAME_SHAPE(CTT_MSG_SOFTMAX_BIAS, SB, SI, bias.shape(), in);
    }
}

} // namespace detail

/** @brief `out[r] = softmax(scale * in[r])` for every row r. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void softmax_rows(tensor_view<TI, SI> in, tensor_view<float, SO> out, float scale = 1.f) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_SOFTMAX_SHAPES, SI, SO, in.shape(), out.shape());
    const std::size_t n = in.cols();
    detail::for_each_row(
        [=](const float* pi, float* po) { detail::softmax_row(pi, nullptr, scale, po, n); }, in,
        out);
}

/** @brief `x[r] = softmax(scale * x[r])` for every row r, in place. */
template <tensor_shape S>
inline void softmax_rows(tensor_view<float, S> x, float scale = 1.f) {
    softmax_rows(tensor_view<const float, S>(x), x, scale);
}

/**
 * @brief `out[r] = softmax(scale * in[r] + bias[r])`, where `bias` is one rank-1 row shared by
 *        all rows or a view with the extents of `in`.
 */
template <detail::rowwise_element TI, tensor_shape SI, detail::rowwise_element TB, tensor_shape SB,
          tensor_shape SO>
inline void softmax_rows_biased(tensor_view<TI, SI> in, tensor_view<TB, SB> bias,
                                tensor_view<float, SO> out, float scale = 1.f) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_SOFTMAX_SHAPES, SI, SO, in.shape(), out.shape());
    detail::check_softmax_bias(bias, in.shape());
    const std::size_t n = in.cols();
    if constexpr (SB::rank == 1) {
        const float* pb = bias.data();
        detail::for_each_row(
            [=](const float* pi, float* po) { detail::softmax_row(pi, pb, scale, po, n); }, in,
            out);
    } else {
        detail::for_each_row([=](const float* pi, const float* pb,
                                 float* po) { detail::softmax_row(pi, pb, scale, po, n); },
                             in, bias, out);
    }
}

/** @brief `x[r] = softmax(scale * x[r] + bias[r])`, in place. */
template <tensor_shape S, detail::rowwise_element TB, tensor_shape SB>
inline void softmax_rows_biased(tensor_view<float, S> x, tensor_view<TB, SB> bias,
                                float scale = 1.f) {
    softmax_rows_biased(tensor_view<const float, S>(x), bias, x, scale);
}

} // namespace ctt
