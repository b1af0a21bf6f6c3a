#pragma once
/**
 * @file
 * @brief XLM (Lample & Conneau, arXiv:1901.07291) as HF's `XLMWithLMHeadModel` computes it:
 *        token + position (+ language, `langs`) embeddings, LayerNorm, post-norm layers, and an
 *        LM head that is the tied projection with its bias alone.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct xlm : encoder_spec {
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr bool mlm_transform = false;
    static constexpr encoder_names names{
        .base = "transformer.",
        .embed_tokens = "embeddings",
        .embed_positions = "position_embeddings",
        .embed_langs = "lang_embeddings",
        .embed_norm = "layer_norm_emb",
        .norm1 = "layer_norm1.{}",
        .norm2 = "layer_norm2.{}",
        .q = "attentions.{}.q_lin",
        .k = "attentions.{}.k_lin",
        .v = "attentions.{}.v_lin",
        .out = "attentions.{}.out_lin",
        .up = "ffns.{}.lin1",
        .down = "ffns.{}.lin2",
        .mlm_decoder = "^pred_layer.proj",
        .mlm_bias = "^pred_layer.proj.bias",
        .ignored = "position_ids",
    };
};
} // namespace families

template <encoder_config C>
using xlm = encoder_model<C, families::xlm>;

} // namespace ctt
