#pragma once
/**
 * @file
 * @brief The latent-diffusion spatial transformer as a model of its own: diffusers'
 *        `Transformer2DModel` with continuous inputs (`model_type` "ldm_transformer" in ctt's
 *        registry), configured by `ldm_transformer_config` and run by
 *        `forward(hidden_states, encoder_hidden_states)`. The computation is
 *        `spatial_transformer` (`blocks/spatial_transformer.hpp`).
 */

#include <concepts>
#include <string>

#include "ctt/blocks/spatial_transformer.hpp"
#include "ctt/core/tensor.hpp"

namespace ctt {

/**
 * @brief The compile-time configuration of a `Transformer2DModel`: channels, heads and head
 *        width, the text width, layers, GroupNorm groups, the LayerNorm epsilon and the
 *        projection kind (diffusers' `use_linear_projection`). `attention_bias` may be given.
 */
template <class C>
concept ldm_transformer_config = requires {
    { C::in_channels } -> std::convertible_to<index_t>;
    { C::num_attention_heads } -> std::convertible_to<index_t>;
    { C::attention_head_dim } -> std::convertible_to<index_t>;
    { C::cross_attention_dim } -> std::convertible_to<index_t>;
    { C::num_layers } -> std::convertible_to<index_t>;
    { C::norm_num_groups } -> std::convertible_to<index_t>;
    { C::norm_eps } -> std::convertible_to<float>;
    { C::use_linear_projection } -> std::convertible_to<bool>;
};

namespace detail {
template <class C>
constexpr bool ldm_attention_bias() {
    if constexpr (requires { C::attention_bias; }) {
        return C::attention_bias;
    } else {
        return false;
    }
}
} // namespace detail

/**
 * @brief `Transformer2DModel`: `sample = hidden_states + transformer(hidden_states, text)` over
 *        `[batch, in_channels, H, W]` images with runtime batch, grid and text length.
 */
template <ldm_transformer_config C>
class ldm_transformer {
public:
    using config = C;
    using transformer =
        spatial_transformer<C::in_channels, C::num_attention_heads, C::attention_head_dim,
                            C::cross_attention_dim, C::num_layers, C::norm_num_groups,
                            C::use_linear_projection ? spatial_projection::linear
                                                     : spatial_projection::conv1x1,
                            detail::ldm_attention_bias<C>()>;
    static constexpr index_t channels = C::in_channels;
    static constexpr index_t cross_attention_dim = C::cross_attention_dim;
    using output = tensor<float, shape<dyn, channels, dyn, dyn>>;

    ldm_transformer() { transformer_.set_eps(C::norm_eps); }

    /**
     * @brief The transformer's output (`Transformer2DModelOutput.sample`): `hidden_states`
     *        `[B, in_channels, H, W]`, `encoder_hidden_states` `[B, L, cross_attention_dim]`.
     */
    [[nodiscard]] output
    forward(tensor_view<const float, shape<dyn, dyn, dyn, dyn>> hidden_states,
            tensor_view<const float, shape<dyn, dyn, dyn>> encoder_hidden_states) const {
        detail::check_dims(CTT_MSG_SPATIAL_SHAPES, hidden_states.extent(1), channels);
        detail::check_dims(CTT_MSG_SPATIAL_SHAPES, encoder_hidden_states.extent(2),
                           cross_attention_dim);
        const index_t b = hidden_states.extent(0);
        const index_t h = hidden_states.extent(2);
        const index_t w = hidden_states.extent(3);
        output out(b, h, w);
        transformer_.forward(
            typename transformer::image_view(hidden_states.data(),
                                             shape<dyn, channels, dyn, dyn>(b, h, w)),
            typename transformer::text_view(
                encoder_hidden_states.data(),
                shape<dyn, dyn, cross_attention_dim>(b, encoder_hidden_states.extent(1))),
            out.view());
        return out;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        transformer_.visit_parameters(v, prefix);
    }

    [[nodiscard]] const transformer& blocks() const noexcept { return transformer_; }

private:
    transformer transformer_;
};

} // namespace ctt
