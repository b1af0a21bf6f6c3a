#pragma once
/**
 * @file
 * @brief Scalar twins of `kernels/activations.hpp`, computed in double with `std::erf`,
 *        `std::tanh` and `std::exp`, then rounded to float.
 */

#include <cmath>

#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/detail/rowwise.hpp"

namespace ctt::kernels::reference {

/** @brief The activation `a` at `x`, in double precision. */
[[nodiscard]] inline double activate(activation a, double x) {
    switch (a) {
    case activation::relu:
        return x > 0 ? x : 0.0;
    case activation::gelu_erf:
        return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case activation::gelu_tanh: {
        const double k = std::sqrt(2.0 / 3.14159265358979323846);
        return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
    }
    case activation::quick_gelu:
        return x / (1.0 + std::exp(-1.702 * x));
    case activation::silu:
        return x / (1.0 + std::exp(-x));
    }
    return x;
}

/** @brief `out = a(in)`, one element at a time. */
template <class TI, class SI, class SO>
void apply_activation(activation a, tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    const index_t n = in.cols();
    ctt::detail::for_each_row(
        [=](const float* pi, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = static_cast<float>(activate(a, static_cast<double>(pi[i])));
            }
        },
        in, out);
}

} // namespace ctt::kernels::reference
