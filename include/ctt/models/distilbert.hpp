#pragma once
/**
 * @file
 * @brief DistilBERT (Sanh et al., arXiv:1910.01108) as HF's `DistilBertForMaskedLM` computes
 *        it: BERT's post-norm encoder without token types, learned or fixed interleaved
 *        sinusoidal positions (`sinusoidal_pos_embds`), and its vocab transform head.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct distilbert : encoder_spec {
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr encoder_names names{
        .base = "distilbert.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .layer = "transformer.layer.{}.",
        .norm1 = "sa_layer_norm",
        .norm2 = "output_layer_norm",
        .q = "attention.q_lin",
        .k = "attention.k_lin",
        .v = "attention.v_lin",
        .out = "attention.out_lin",
        .up = "ffn.lin1",
        .down = "ffn.lin2",
        .mlm_dense = "^vocab_transform",
        .mlm_norm = "^vocab_layer_norm",
        .mlm_decoder = "^vocab_projector",
        .mlm_bias = "^vocab_projector.bias",
        .ignored = "embeddings.position_ids",
    };
};
} // namespace families

template <encoder_config C>
using distilbert = encoder_model<C, families::distilbert>;

} // namespace ctt
