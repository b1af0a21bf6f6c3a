#pragma once
/**
 * @file
 * @brief Normalisation blocks (LayerNorm, RMSNorm) with their weights, and the placement of
 *        norms around a residual sub-layer as a policy: post, pre, parallel and sandwich.
 */

#include <string>

#include "ctt/blocks/linear.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/elementwise.hpp"
#include "ctt/kernels/norms.hpp"

namespace ctt {

/** @brief LayerNorm (Ba et al., arXiv:1607.06450) over `H` features, with optional bias. */
template <index_t H, bool Bias = true>
struct layer_norm_block {
    static constexpr index_t width = H;
    tensor<float, shape<H>> weight;
    [[no_unique_address]] std::conditional_t<Bias, tensor<float, shape<H>>, detail::absent> bias;
    float eps = 1e-5f;

    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y) const {
        if constexpr (Bias) {
            layer_norm(x, weight.view(), bias.view(), eps, y);
        } else {
            layer_norm(x, weight.view(), eps, y);
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "weight", weight.view());
        if constexpr (Bias) {
            v.parameter(prefix + "bias", bias.view());
        }
    }
};

/** @brief RMSNorm (Zhang & Sennrich, arXiv:1910.07467) as T5 and LLaMA use it. */
template <index_t H>
struct rms_norm_block {
    static constexpr index_t width = H;
    tensor<float, shape<H>> weight;
    float eps = 1e-6f;

    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y) const {
        rms_norm(x, weight.view(), eps, y);
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "weight", weight.view());
    }
};

/// Where a transformer layer normalises around its two residual sub-layers.
enum class norm_placement {
    post,     ///< `x = norm(x + f(x))`: the original Transformer, BERT, BART
    pre,      ///< `x = x + f(norm(x))`: GPT-2, T5, LLaMA
    parallel, ///< `x = x + attn(norm1(x)) + ffn(norm2(x))`: GPT-J (one norm), GPT-NeoX, PaLM
    sandwich, ///< `x = x + norm_out(f(norm_in(x)))`: CogView, NormFormer
};

/**
 * @brief The residual wiring of one transformer layer, with its norms.
 *
 * The sub-layers are callables `f(in, out, accumulate)` that write `f(in)` into `out`, or add it
 * when `accumulate` is true, so residual additions happen inside the output projections' GEMMs.
 * `x` holds the layer's input and receives its output. `scratch` is `[rows, H]`, and a second
 * scratch is needed for `parallel` with two norms and for `sandwich`.
 *
 * For `parallel`, `SharedNorm = true` uses one norm for both sub-layers (GPT-J).
 */
template <norm_placement Placement, class Norm, bool SharedNorm = false>
struct residual_layer {
    static constexpr norm_placement placement = Placement;
    static constexpr index_t width = Norm::width;
    static constexpr bool has_second_norm = !(Placement == norm_placement::parallel && SharedNorm);
    /// Whether `forward` uses its second scratch buffer.
    static constexpr bool needs_second_scratch =
        Placement == norm_placement::sandwich ||
        (Placement == norm_placement::parallel && !SharedNorm);

    Norm norm1; ///< before (pre, parallel, sandwich) or after (post) the attention sub-layer
    [[no_unique_address]] std::conditional_t<has_second_norm, Norm, detail::absent> norm2;
    /// The sandwich's output norms.
    [[no_unique_address]] std::conditional_t<Placement == norm_placement::sandwich, Norm,
                                             detail::absent>
        norm1_out, norm2_out;

    template <tensor_shape SX, tensor_shape SS, class Attend, class FeedForward>
    void forward(tensor_view<float, SX> x, tensor_view<float, SS> scratch,
                 tensor_view<float, SS> scratch2, Attend&& attend,
                 FeedForward&& feed_forward) const {
        using const_view = tensor_view<const float, SX>;
        using const_scratch = tensor_view<const float, SS>;
        if constexpr (Placement == norm_placement::post) {
            attend(const_view(x), x, true);
            norm1.forward(const_view(x), x);
            feed_forward(const_view(x), x, true);
            norm2.forward(const_view(x), x);
        } else if constexpr (Placement == norm_placement::pre) {
            norm1.forward(const_view(x), scratch);
            attend(const_scratch(scratch), x, true);
            norm2.forward(const_view(x), scratch);
            feed_forward(const_scratch(scratch), x, true);
        } else if constexpr (Placement == norm_placement::parallel) {
            norm1.forward(const_view(x), scratch);
            if constexpr (SharedNorm) {
                attend(const_scratch(scratch), x, true);
                feed_forward(const_scratch(scratch), x, true);
            } else {
                norm2.forward(const_view(x), scratch2);
                attend(const_scratch(scratch), x, true);
                feed_forward(const_scratch(scratch2), x, true);
            }
        } else {
            norm1.forward(const_view(x), scratch);
            attend(const_scratch(scratch), scratch2, false);
            norm1_out.forward(const_scratch(scratch2), scratch);
            add_inplace(x, const_scratch(scratch));
            norm2.forward(const_view(x), scratch);
            feed_forward(const_scratch(scratch), scratch2, false);
            norm2_out.forward(const_scratch(scratch2), scratch);
            add_inplace(x, const_scratch(scratch));
        }
    }
};

} // namespace ctt
