#pragma once
/**
 * @file
 * @brief Scalar twins of `kernels/norms.hpp`: layer norm and RMS norm with every statistic in
 *        double precision.
 */

#include <cmath>

#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"

namespace ctt::kernels::reference {

/** @brief One row of layer norm in double; `beta` nullable. */
inline void layer_norm_row(const float* x, const float* gamma, const float* beta, float eps,
                           float* out, index_t n) {
    double mean = 0;
    for (index_t i = 0; i < n; ++i) {
        mean += x[i];
    }
    mean /= static_cast<double>(n);
    double var = 0;
    for (index_t i = 0; i < n; ++i) {
        var += (x[i] - mean) * (x[i] - mean);
    }
    var /= static_cast<double>(n);
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (index_t i = 0; i < n; ++i) {
        const double y = (x[i] - mean) * rstd * gamma[i] + (beta != nullptr ? beta[i] : 0.0);
        out[i] = static_cast<float>(y);
    }
}

/** @brief `out = (x - mean) / sqrt(var + eps) * gamma + beta`. */
template <class TX, class SX, class TG, class SG, class TB, class SB, class SO>
void layer_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, tensor_view<TB, SB> beta,
                float eps, tensor_view<float, SO> out) {
    const index_t n = x.cols();
    const float* g = gamma.data();
    const float* b = beta.data();
    ctt::detail::for_each_row(
        [=](const float* px, float* po) { layer_norm_row(px, g, b, eps, po, n); }, x, out);
}

/** @brief Layer norm without bias. */
template <class TX, class SX, class TG, class SG, class SO>
void layer_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, float eps,
                tensor_view<float, SO> out) {
    const index_t n = x.cols();
    const float* g = gamma.data();
    ctt::detail::for_each_row(
        [=](const float* px, float* po) { layer_norm_row(px, g, nullptr, eps, po, n); }, x, out);
}

/** @brief `out = x / sqrt(mean(x^2) + eps) * gamma`. */
template <class TX, class SX, class TG, class SG, class SO>
void rms_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, float eps,
              tensor_view<float, SO> out) {
    const index_t n = x.cols();
    const float* g = gamma.data();
    ctt::detail::for_each_row(
        [=](const float* px, float* po) {
            double ms = 0;
            for (index_t i = 0; i < n; ++i) {
                ms += static_cast<double>(px[i]) * px[i];
            }
            ms /= static_cast<double>(n);
            const double r = 1.0 / std::sqrt(ms + eps);
            for (index_t i = 0; i < n; ++i) {
                po[i] = static_cast<float>(px[i] * r * g[i]);
            }
        },
        x, out);
}

} // namespace ctt::kernels::reference
