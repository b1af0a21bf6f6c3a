#pragma once
/**
 * @file
 * @brief Elementwise kernels on tensor views of any rank: `add`, `add_inplace`, `add_bias`
 *        (a bias row added to every row), `scale`, `multiply`.
 *
 * Static extent mismatches do not compile; runtime ones throw `ctt::shape_error`. An output may
 * be the same view as an input (each element is read before it is written).
 */

#include <cstddef>
#include <functional>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

namespace detail {
template <class Op>
inline void binary_row(const float* a, const float* b, float* out, std::size_t n, Op op) noexcept {
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        simd::store_n(out + i, op(simd::load_n(a + i, lanes), simd::load_n(b + i, lanes)), lanes);
    });
}
} // namespace detail

/** @brief `out = a + b`, elementwise; all three extents must agree. */
template <detail::rowwise_element TA, tensor_shape SA, detail::rowwise_element TB, tensor_shape SB,
          tensor_shape SO>
inline void add(tensor_view<TA, SA> a, tensor_view<TB, SB> b, tensor_view<float, SO> out) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ADD_SHAPES, SA, SB, a.shape(), b.shape());
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ADD_SHAPES, SA, SO, a.shape(), out.shape());
    const std::size_t n = a.cols();
    detail::for_each_row([=](const float* pa, const float* pb,
                             float* po) { detail::binary_row(pa, pb, po, n, std::plus<>{}); },
                         a, b, out);
}

/** @brief `x += y`, elementwise (a residual connection). */
template <tensor_shape SX, detail::rowwise_element TY, tensor_shape SY>
inline void add_inplace(tensor_view<float, SX> x, tensor_view<TY, SY> y) {
    add(tensor_view<const float, SX>(x), y, x);
}

/**
 * @brief `out[r] = in[r] + bias` for every row r: the bias of a linear layer, broadcast over
 *        rows. `bias` is rank 1 with the row width of `in`.
 */
template <detail::rowwise_element TI, tensor_shape SI, detail::rowwise_element TB, tensor_shape SB,
          tensor_shape SO>
requires(SB::rank == 1) inline void add_bias(tensor_view<TI, SI> in, tensor_view<TB, SB> bias,
                                             tensor_view<float, SO> out) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ADD_SHAPES, SI, SO, in.shape(), out.shape());
    CTT_CHECK_DIMS(CTT_MSG_ADD_BIAS, SB::static_extents[0], detail::static_width_v<SI>,
                   bias.extent(0), in.cols());
    const std::size_t n = in.cols();
    const float* pb = bias.data();
    detail::for_each_row(
        [=](const float* pi, float* po) { detail::binary_row(pi, pb, po, n, std::plus<>{}); }, in,
        out);
}

/** @brief `x[r] += bias` for every row r, in place. */
template <tensor_shape SX, detail::rowwise_element TB, tensor_shape SB>
requires(SB::rank == 1) inline void add_bias(tensor_view<float, SX> x, tensor_view<TB, SB> bias) {
    add_bias(tensor_view<const float, SX>(x), bias, x);
}

/** @brief `out = a * b`, elementwise (the Hadamard product). */
template <detail::rowwise_element TA, tensor_shape SA, detail::rowwise_element TB, tensor_shape SB,
          tensor_shape SO>
inline void multiply(tensor_view<TA, SA> a, tensor_view<TB, SB> b, tensor_view<float, SO> out) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ELEMENTWISE, SA, SB, a.shape(), b.shape());
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ELEMENTWISE, SA, SO, a.shape(), out.shape());
    const std::size_t n = a.cols();
    detail::for_each_row([=](const float* pa, const float* pb,
                             float* po) { detail::binary_row(pa, pb, po, n, std::multiplies<>{}); },
                         a, b, out);
}

/** @brief `out = s * in`, elementwise. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void scale(tensor_view<TI, SI> in, float s, tensor_view<float, SO> out) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ELEMENTWISE, SI, SO, in.shape(), out.shape());
    const std::size_t n = in.cols();
    detail::for_each_row(
        [=](const float* pi, float* po) {
            const simd::batch<float> f(s);
            simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
                simd::store_n(po + i, simd::load_n(pi + i, lanes) * f, lanes);
            });
        },
        in, out);
}

/** @brief `x *= s`, in place. */
template <tensor_shape SX>
inline void scale(tensor_view<float, SX> x, float s) {
    scale(tensor_view<const float, SX>(x), s, x);
}

} // namespace ctt
