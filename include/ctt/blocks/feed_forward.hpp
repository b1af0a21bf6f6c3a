#pragma once
/**
 * @file
 * @brief Position-wise feed-forward blocks: `down(act(up(x)))` and the gated (GLU) variants
 *        `down(act(gate(x)) * up(x))` (Shazeer, arXiv:2002.05202).
 */

#include <string>

#include "ctt/blocks/linear.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/glu.hpp"

namespace ctt {

/**
 * @brief `y = down(act(up(x)))` from `H` to `F` and back, with optional biases.
 *
 * Sub-module names are the caller's: a model names `up` and `down` after its checkpoint
 * (`intermediate.dense` / `output.dense` for BERT, `c_fc` / `c_proj` for GPT-2, ...).
 */
template <index_t H, index_t F, activation Act, bool Bias = true,
          weight_layout Layout = weight_layout::out_in>
struct feed_forward {
    static constexpr index_t hidden = H;
    static constexpr index_t inner = F;
    linear<H, F, Bias, Layout> up;
    linear<F, H, Bias, Layout> down;

    /// `y = ffn(x)`, or `y += ffn(x)`; `scratch` holds `x.rows()` rows of `F`.
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate,
                 tensor_view<float, shape<dyn, F>> scratch) const {
        auto h = scratch.rows(0, x.rows());
        up.forward(x, h);
        apply_activation<Act>(h);
        down.forward(tensor_view<const float, shape<dyn, F>>(h), y, accumulate);
    }
};

/**
 * @brief The gated feed-forward `y = down(act(gate(x)) * up(x))`: GEGLU (T5 v1.1, LaMDA),
 *        SwiGLU (LLaMA, PaLM), ReGLU.
 */
template <index_t H, index_t F, activation Act, bool Bias = false>
struct gated_feed_forward {
    static constexpr index_t hidden = H;
    static constexpr index_t inner = F;
    linear<H, F, Bias> gate;
    linear<H, F, Bias> up;
    linear<F, H, Bias> down;

    /// `scratch` holds `2 * x.rows()` rows of `F`.
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate,
                 tensor_view<float, shape<dyn, F>> scratch) const {
        const index_t n = x.rows();
        auto g = scratch.rows(0, n);
        auto u = scratch.rows(n, n);
        gate.forward(x, g);
        up.forward(x, u);
        glu<Act>(tensor_view<const float, shape<dyn, F>>(g),
                 tensor_view<const float, shape<dyn, F>>(u), g);
        down.forward(tensor_view<const float, shape<dyn, F>>(g), y, accumulate);
    }
};

} // namespace ctt
