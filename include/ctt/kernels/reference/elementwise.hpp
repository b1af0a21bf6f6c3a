#pragma once
/**
 * @file
 * @brief Scalar twins of `kernels/elementwise.hpp`: one float operation per element, no SIMD.
 *        Shapes are assumed valid (the tests compare against the checked kernels).
 */

#include "ctt/core/shape.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"

namespace ctt::kernels::reference {

/** @brief `out = a + b`. */
template <class TA, class SA, class TB, class SB, class SO>
void add(tensor_view<TA, SA> a, tensor_view<TB, SB> b, tensor_view<float, SO> out) {
    const index_t n = a.cols();
    ctt::detail::for_each_row(
        [=](const float* pa, const float* pb, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = pa[i] + pb[i];
            }
        },
        a, b, out);
}

/** @brief `out[r] = in[r] + bias`. */
template <class TI, class SI, class TB, class SB, class SO>
void add_bias(tensor_view<TI, SI> in, tensor_view<TB, SB> bias, tensor_view<float, SO> out) {
    const index_t n = in.cols();
    const float* pb = bias.data();
    ctt::detail::for_each_row(
        [=](const float* pi, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = pi[i] + pb[i];
            }
        },
        in, out);
}

/** @brief `out = a * b`. */
template <class TA, class SA, class TB, class SB, class SO>
void multiply(tensor_view<TA, SA> a, tensor_view<TB, SB> b, tensor_view<float, SO> out) {
    const index_t n = a.cols();
    ctt::detail::for_each_row(
        [=](const float* pa, const float* pb, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = pa[i] * pb[i];
            }
        },
        a, b, out);
}

/** @brief `out = s * in`. */
template <class TI, class SI, class SO>
void scale(tensor_view<TI, SI> in, float s, tensor_view<float, SO> out) {
    const index_t n = in.cols();
    ctt::detail::for_each_row(
        [=](const float* pi, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = s * pi[i];
            }
        },
        in, out);
}

} // namespace ctt::kernels::reference
