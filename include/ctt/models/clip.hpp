#pragma once
/**
 * @file
 * @brief CLIP (Radford et al., arXiv:2103.00020) as HF's `CLIPModel` computes it: a causal text
 *        tower pooled at the EOS token, a vision tower (pre-LayerNorm, CLS pooled through
 *        `post_layernorm`), both projections, L2-normalised embeddings, and
 *        `logits_per_image = exp(logit_scale) * image_embeds . text_embeds`.
 *
 * Both towers are `encoder_model`s; the config holds them as `C::text` and `C::vision`.
 */

#include <cmath>
#include <cstdint>
#include <string>

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
/// The layer names both towers share.
inline constexpr encoder_names clip_layers{
    .layer = "encoder.layers.{}.",
    .norm1 = "layer_norm1",
    .norm2 = "layer_norm2",
    .q = "self_attn.q_proj",
    .k = "self_attn.k_proj",
    .v = "self_attn.v_proj",
    .out = "self_attn.out_proj",
    .up = "mlp.fc1",
    .down = "mlp.fc2",
};
struct clip_text : encoder_spec {
    static constexpr bool embedding_norm = false;
    static constexpr norm_placement placement = norm_placement::pre;
    static constexpr bool final_norm = true;
    static constexpr bool causal = true;
    static constexpr encoder_names names = [] {
        encoder_names n = clip_layers;
        n.embed_tokens = "embeddings.token_embedding";
        n.embed_positions = "embeddings.position_embedding";
        n.final_norm = "final_layer_norm";
        n.ignored = "embeddings.position_ids";
        return n;
    }();
};
struct clip_vision : encoder_spec {
    static constexpr encoder_input input = encoder_input::patches;
    static constexpr bool patch_bias = false;
    static constexpr norm_placement placement = norm_placement::pre;
    static constexpr encoder_names names = [] {
        encoder_names n = clip_layers;
        n.embed_positions = "embeddings.position_embedding";
        n.patch_projection = "embeddings.patch_embedding";
        n.cls_token = "embeddings.class_embedding";
        n.embed_norm = "pre_layrnorm";
        n.ignored = "embeddings.position_ids";
        return n;
    }();
};
} // namespace families

/// What a CLIP configuration provides: the two towers' configs and the projection width.
template <class C>
concept clip_config =
    encoder_config<typename C::text> && encoder_config<typename C::vision> && requires {
    { C::projection_dim } -> std::convertible_to<index_t>;
    { C::text::eos_token_id } -> std::convertible_to<std::int64_t>;
};

/** @brief CLIP's two towers and their contrastive head. */
template <clip_config C>
class clip {
public:
    using config = C;
    using text_model = encoder_model<typename C::text, families::clip_text>;
    using vision_model = encoder_model<typename C::vision, families::clip_vision>;
    static constexpr index_t projection_dim = C::projection_dim;
    static constexpr index_t text_hidden = text_model::hidden;
    static constexpr index_t vision_hidden = vision_model::hidden;

    struct outputs {
        tensor<float, shape<dyn, text_hidden>> text_last_hidden_state;     ///< `[Bt * L, Ht]`
        tensor<float, shape<dyn, vision_hidden>> vision_last_hidden_state; ///< before post-LN
        tensor<float, shape<dyn, projection_dim>> text_embeds;             ///< L2-normalised
        tensor<float, shape<dyn, projection_dim>> image_embeds;            ///< L2-normalised
        tensor<float, shape<dyn, dyn>> logits_per_image;                   ///< `[Bi, Bt]`
    };

    clip() { post_layernorm_.eps = vision_eps; }

    /// The position of the EOS token of a sequence: the first `eos_token_id`, or, for configs
    /// with the legacy id 2, the largest id (HF's `argmax`).
    [[nodiscard]] static index_t eos_position(std::span<const std::int32_t> ids) {
        index_t best = 0;
        for (index_t t = 0; t < ids.size(); ++t) {
            if constexpr (C::text::eos_token_id == 2) {
                if (ids[t] > ids[best]) {
                    best = t;
                }
            } else if (ids[t] == C::text::eos_token_id) {
                return t;
            }
        }
        return best;
    }

    /// Normalised text embeddings of `ids` (`[batch, length]`), and the tower's last states.
    [[nodiscard]] tensor<float, shape<dyn, projection_dim>>
    text_embeddings(token_ids ids, const token_ids* attention_mask = nullptr,
                    tensor<float, shape<dyn, text_hidden>>* last_hidden_state = nullptr) const {
        auto out = text_.forward(ids, encoder_inputs{nullptr, attention_mask});
        const index_t batch = ids.rows();
        tensor<float, shape<dyn, text_hidden>> pooled(batch);
        for (index_t b = 0; b < batch; ++b) {
            const index_t t = eos_position(sequence(ids, b));
            std::copy_n(out.last_hidden_state[b * ids.cols() + t].data(), text_hidden,
                        pooled[b].data());
        }
        tensor<float, shape<dyn, projection_dim>> e(batch);
        detail::forward_each_row(text_projection_,
                                 tensor_view<const float, shape<dyn, text_hidden>>(pooled.view()),
                                 e.view());
        detail::l2_normalize_rows(e.view());
        if (last_hidden_state != nullptr) {
            *last_hidden_state = std::move(out.last_hidden_state);
        }
        return e;
    }

    /// Normalised image embeddings of `pixels`, and the tower's last states.
    [[nodiscard]] tensor<float, shape<dyn, projection_dim>>
    image_embeddings(pixel_values pixels,
                     tensor<float, shape<dyn, vision_hidden>>* last_hidden_state = nullptr) const {
        auto out = vision_.forward_pixels(pixels);
        const index_t batch = pixels.extent(0);
        const index_t length = out.last_hidden_state.rows() / batch;
        tensor<float, shape<dyn, vision_hidden>> pooled(batch);
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(out.last_hidden_state[b * length].data(), vision_hidden, pooled[b].data());
        }
        post_layernorm_.forward(tensor_view<const float, shape<dyn, vision_hidden>>(pooled.view()),
                                pooled.view());
        tensor<float, shape<dyn, projection_dim>> e(batch);
        detail::forward_each_row(visual_projection_,
                                 tensor_view<const float, shape<dyn, vision_hidden>>(pooled.view()),
                                 e.view());
        detail::l2_normalize_rows(e.view());
        if (last_hidden_state != nullptr) {
            *last_hidden_state = std::move(out.last_hidden_state);
        }
        return e;
    }

    /// Both towers and `logits_per_image` (`logits_per_text` is its transpose).
    [[nodiscard]] outputs forward(token_ids ids, pixel_values pixels,
                                  const token_ids* attention_mask = nullptr) const {
        outputs o;
        o.text_embeds = text_embeddings(ids, attention_mask, &o.text_last_hidden_state);
        o.image_embeds = image_embeddings(pixels, &o.vision_last_hidden_state);
        const index_t texts = o.text_embeds.rows();
        const index_t images = o.image_embeds.rows();
        o.logits_per_image = tensor<float, shape<dyn, dyn>>(images, texts);
        const float scale = std::exp(logit_scale_[0]);
        matmul_bt(tensor_view<const float, shape<dyn, projection_dim>>(o.image_embeds.view()),
                  tensor_view<const float, shape<dyn, projection_dim>>(o.text_embeds.view()),
                  o.logits_per_image.view(), gemm_options{scale, false});
        return o;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        text_.visit_parameters(v, prefix + "text_model.");
        vision_.visit_parameters(v, prefix + "vision_model.");
        post_layernorm_.visit_parameters(v, prefix + "vision_model.post_layernorm.");
        text_projection_.visit_parameters(v, prefix + "text_projection.");
        visual_projection_.visit_parameters(v, prefix + "visual_projection.");
        v.parameter(prefix + "logit_scale", logit_scale_.view());
    }

    void finish_loading() {
        text_.finish_loading();
        vision_.finish_loading();
    }

private:
    static constexpr float vision_eps = [] {
        if constexpr (requires { C::vision::norm_eps; }) {
            return C::vision::norm_eps;
        } else {
            return C::vision::layer_norm_eps;
        }
    }();

    text_model text_;
    vision_model vision_;
    layer_norm_block<vision_hidden> post_layernorm_;
    linear<text_hidden, projection_dim, false> text_projection_;
    linear<vision_hidden, projection_dim, false> visual_projection_;
    tensor<float, shape<1>> logit_scale_;
};

} // namespace ctt
