#pragma once
/**
 * @file
 * @brief BART (Lewis et al., arXiv:1910.13461) as HF's `BartForConditionalGeneration` computes
 *        it, as a spec of `encoder_decoder`: post-LayerNorm stacks with biases everywhere,
 *        learned positions numbered from 2 (`BartLearnedPositionalEmbedding`), an embedding
 *        LayerNorm per stack, optionally `sqrt(d_model)`-scaled embeddings (`scale_embedding`),
 *        and a head tied to the shared embeddings plus `final_logits_bias`.
 */

#include "ctt/models/encoder_decoder.hpp"

namespace ctt {

namespace families {

/// BART's slots and names (`model.encoder.layers.{}.`, `model.decoder.layers.{}.`).
struct bart_spec : seq2seq_spec {
    static constexpr position_embedding positions = position_embedding::learned;
    static constexpr index_t position_offset = 2;
    static constexpr bool embedding_norm = true;
    static constexpr norm_placement placement = norm_placement::post;
    static constexpr bool attention_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr bool logits_bias = true;
    static constexpr sublayer_names self_attention = {.norm = "self_attn_layer_norm",
                                                      .scope = "self_attn.",
                                                      .q = "q_proj",
                                                      .k = "k_proj",
                                                      .v = "v_proj",
                                                      .out = "out_proj"};
    static constexpr sublayer_names feed_forward = {
        .norm = "final_layer_norm", .up = "fc1", .down = "fc2"};
    static constexpr seq2seq_names<> names = {
        .base = "model.",
        .shared = "shared",
        .encoder = {.layer = "encoder.layers.{}.",
                    .sublayers = {{self_attention, feed_forward}},
                    .positions = "encoder.embed_positions",
                    .embedding_norm = "encoder.layernorm_embedding"},
        .decoder = {.layer = "decoder.layers.{}.",
                    .sublayers = {{self_attention,
                                   {.norm = "encoder_attn_layer_norm",
                                    .scope = "encoder_attn.",
                                    .q = "q_proj",
                                    .k = "k_proj",
                                    .v = "v_proj",
                                    .out = "out_proj"},
                                   feed_forward}},
                    .positions = "decoder.embed_positions",
                    .embedding_norm = "decoder.layernorm_embedding"},
        .logits_bias = "^final_logits_bias",
        .ignored = "encoder.embed_tokens.weight decoder.embed_tokens.weight",
    };
};

} // namespace families

/** @brief BART encoder-decoder with its LM head; weights under HF's names. */
template <encoder_decoder_config C>
using bart = encoder_decoder<C, families::bart_spec>;

} // namespace ctt
