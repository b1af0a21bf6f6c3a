#pragma once
/**
 * @file
 * @brief Scalar twin of `kernels/softmax.hpp`: row softmax of `scale * x + bias` with the
 *        maximum, exponentials and sum in double precision (`std::exp`).
 */

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"

namespace ctt::kernels::reference {

/** @brief Softmax of one row of `scale * in + bias` (bias nullable); all `-inf` gives zeros. */
inline void softmax_row(const float* in, const float* bias, float scale, float* out, index_t n) {
    std::vector<double> s(n);
    double m = -std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < n; ++i) {
        s[i] = static_cast<double>(scale) * in[i] + (bias != nullptr ? bias[i] : 0.0);
        m = std::max(m, s[i]);
    }
    if (m == -std::numeric_limits<double>::infinity()) {
        std::fill(out, out + n, 0.f);
        return;
    }
    double sum = 0;
    for (index_t i = 0; i < n; ++i) {
        s[i] = std::exp(s[i] - m);
        sum += s[i];
    }
    for (index_t i = 0; i < n; ++i) {
        out[i] = static_cast<float>(s[i] / sum);
    }
}

/** @brief `out[r] = softmax(scale * in[r])`. */
template <class TI, class SI, class SO>
void softmax_rows(tensor_view<TI, SI> in, tensor_view<float, SO> out, float scale = 1.f) {
    const index_t n = in.cols();
    ctt::detail::for_each_row(
        [=](const float* pi, float* po) { softmax_row(pi, nullptr, scale, po, n); }, in, out);
}

/** @brief `out[r] = softmax(scale * in[r] + bias[r])`; rank-1 bias broadcast over rows. */
template <class TI, class SI, class TB, class SB, class SO>
void softmax_rows_biased(tensor_view<TI, SI> in, tensor_view<TB, SB> bias,
                         tensor_view<float, SO> out, float scale = 1.f) {
    const index_t n = in.cols();
    if constexpr (SB::rank == 1) {
        const float* pb = bias.data();
        ctt::detail::for_each_row(
            [=](const float* pi, float* po) { softmax_row(pi, pb, scale, po, n); }, in, out);
    } else {
        ctt::detail::for_each_row(
            [=](const float* pi, const float* pb, float* po) { softmax_row(pi, pb, scale, po, n); },
            in, bias, out);
    }
}

} // namespace ctt::kernels::reference
