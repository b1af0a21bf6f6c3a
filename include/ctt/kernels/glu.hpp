#pragma once
/**
 * @file
 * @brief Gated linear units `out = act(gate) * up` (Shazeer, "GLU Variants Improve
 *        Transformer", arXiv:2002.05202): GEGLU (T5 v1.1, latent diffusion), SwiGLU (PaLM,
 *        LLaMA), ReGLU.
 *
 * Two layouts are accepted:
 * - separate `gate` and `up` views, as produced by two projections (HF LLaMA's `gate_proj` and
 *   `up_proj`, T5's `wi_0` and `wi_1`);
 * - one fused `[rows, 2F]` view, as produced by one projection of width 2F. Which half is the
 *   gate differs between codebases, so it is a parameter: `glu_gate_half::first` when
 *   `gate, up = x.chunk(2, -1)`, `glu_gate_half::second` for diffusers' `GEGLU`, which writes
 *   `hidden, gate = proj(x).chunk(2, dim=-1)`.
 */

#include <cstddef>
#include <utility>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/** @brief Which half of a fused `[rows, 2F]` GLU input holds the gate. */
enum class glu_gate_half {
    first, ///< `[gate | up]`: `gate, up = chunk(2)`
    second ///< `[up | gate]`: diffusers' GEGLU, `hidden, gate = chunk(2)`
};

namespace detail {
template <activation A>
inline void glu_row(const float* gate, const float* up, float* out, std::size_t n) noexcept {
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        const auto g = activate<A>(simd::load_n(gate + i, lanes));
        simd::store_n(out + i, g * simd::load_n(up + i, lanes), lanes);
    });
}
} // namespace detail

/**
 * @brief `out = A(gate) * up`, elementwise; the three views have the same extents. `out` may be
 *        the same view as `gate` or `up`.
 */
template <activation A, detail::rowwise_element TG, tensor_shape SG, detail::rowwise_element TU,
          tensor_shape SU, tensor_shape SO>
inline void glu(tensor_view<TG, SG> gate, tensor_view<TU, SU> up, tensor_view<float, SO> out) {
    CTT_CHECK_DIMS(CTT_MSG_GLU_WIDTH, detail::static_width_v<SG>, detail::static_width_v<SO>,
                   gate.cols(), out.cols());
    CTT_CHECK_SAME_SHAPE(CTT_MSG_GLU_SHAPES, SG, SO, gate.shape(), out.shape());
    CTT_CHECK_SAME_SHAPE(CTT_MSG_GLU_SHAPES, SU, SO, up.shape(), out.shape());
    const std::size_t n = out.cols();
    detail::for_each_row(
        [=](const float* pg, const float* pu, float* po) { detail::glu_row<A>(pg, pu, po, n); },
        gate, up, out);
}

/**
 * @brief `out = A(gate) * up` where `fused` is `[..., 2F]` holding both halves and `out` is
 *        `[..., F]`; `half` says which half is the gate.
 */
template <activation A, detail::rowwise_element TF, tensor_shape SF, tensor_shape SO>
inline void glu(tensor_view<TF, SF> fused, tensor_view<float, SO> out,
                glu_gate_half half = glu_gate_half::first) {
    static_assert(SF::rank == SO::rank, CTT_MSG_GLU_SHAPES);
    constexpr index_t sf = detail::static_width_v<SF>;
    constexpr index_t so = detail::static_width_v<SO>;
    static_assert(sf == dyn || sf % 2 == 0, CTT_MSG_GLU_FUSED_WIDTH);
    CTT_CHECK_DIMS(CTT_MSG_GLU_FUSED_WIDTH, sf, so == dyn ? dyn : 2 * so, fused.cols(),
                   2 * out.cols());
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        static_assert(
            (detail::dims_agree<SF::static_extents[I], SO::static_extents[I]>::value && ...),
            CTT_MSG_GLU_SHAPES);
    }
    (std::make_index_sequence<SF::rank - 1>{});
    for (index_t d = 0; d + 1 < SF::rank; ++d) {
        detail::check_dims(CTT_MSG_GLU_SHAPES, fused.extent(d), out.extent(d));
    }
    const std::size_t n = out.cols();
    const std::size_t gate_offset = half == glu_gate_half::first ? 0 : n;
    const std::size_t up_offset = half == glu_gate_half::first ? n : 0;
    detail::for_each_row(
        [=](const float* pf, float* po) {
            detail::glu_row<A>(pf + gate_offset, pf + up_offset, po, n);
        },
        fused, out);
}

/** @brief GEGLU with the exact erf GELU (T5 v1.1 "gated-gelu" uses `geglu_tanh`).
 *        Arguments as `glu`: `(gate, up, out)` or `(fused, out[, half])`. */
template <class... Views>
inline void geglu(Views... views) {
    glu<activation::gelu_erf>(views...);
}
/** @brief GEGLU with the tanh GELU (T5 v1.1 / Flan-T5: `dense_act_fn = "gelu_new"`).
 *        Arguments as `glu`: `(gate, up, out)` or `(fused, out[, half])`. */
template <class... Views>
inline void geglu_tanh(Views... views) {
    glu<activation::gelu_tanh>(views...);
}
/** @brief SwiGLU: SiLU-gated (LLaMA, PaLM).
 *        Arguments as `glu`: `(gate, up, out)` or `(fused, out[, half])`. */
template <class... Views>
inline void swiglu(Views... views) {
    glu<activation::silu>(views...);
}
/** @brief ReGLU: ReLU-gated.
 *        Arguments as `glu`: `(gate, up, out)` or `(fused, out[, half])`. */
template <class... Views>
inline void reglu(Views... views) {
    glu<activation::relu>(views...);
}

} // namespace ctt
