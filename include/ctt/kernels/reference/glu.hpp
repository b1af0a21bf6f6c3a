#pragma once
/**
 * @file
 * @brief Scalar twin of `kernels/glu.hpp`: `out = act(gate) * up` in double precision.
 */

#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/kernels/glu.hpp"
#include "ctt/kernels/reference/activations.hpp"

namespace ctt::kernels::reference {

/** @brief `out = a(gate) * up` with separate gate and up views. */
template <class TG, class SG, class TU, class SU, class SO>
void glu(activation a, tensor_view<TG, SG> gate, tensor_view<TU, SU> up,
         tensor_view<float, SO> out) {
    const index_t n = out.cols();
    ctt::detail::for_each_row(
        [=](const float* pg, const float* pu, float* po) {
            for (index_t i = 0; i < n; ++i) {
                po[i] = static_cast<float>(activate(a, static_cast<double>(pg[i])) *
                                           static_cast<double>(pu[i]));
            }
        },
        gate, up, out);
}

/** @brief `out = a(gate) * up` with both halves in one `[..., 2F]` view. */
template <class TF, class SF, class SO>
void glu(activation a, tensor_view<TF, SF> fused, tensor_view<float, SO> out,
         glu_gate_half half = glu_gate_half::first) {
    const index_t n = out.cols();
    ctt::detail::for_each_row(
        [=](const float* pf, float* po) {
            const float* gate = half == glu_gate_half::first ? pf : pf + n;
            const float* up = half == glu_gate_half::first ? pf + n : pf;
            for (index_t i = 0; i < n; ++i) {
                po[i] = static_cast<float>(activate(a, static_cast<double>(gate[i])) *
                                           static_cast<double>(up[i]));
            }
        },
        fused, out);
}

} // namespace ctt::kernels::reference
