#pragma once
/**
 * @file
 * @brief ELECTRA (Clark et al., arXiv:2003.10555) as HF's `ElectraForPreTraining` computes it:
 *        BERT's encoder over embeddings of width `embedding_size` projected to `hidden_size`,
 *        and the replaced-token discriminator (`dense`, `hidden_act`, one logit per token).
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct electra : encoder_spec {
    static constexpr encoder_heads heads = encoder_heads::discriminator;
    static constexpr encoder_names names{
        .base = "electra.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_token_types = "embeddings.token_type_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .embed_projection = "embeddings_project",
        .layer = "encoder.layer.{}.",
        .norm1 = "attention.output.LayerNorm",
        .norm2 = "output.LayerNorm",
        .q = "attention.self.query",
        .k = "attention.self.key",
        .v = "attention.self.value",
        .out = "attention.output.dense",
        .up = "intermediate.dense",
        .down = "output.dense",
        .discriminator_dense = "^discriminator_predictions.dense",
        .discriminator_prediction = "^discriminator_predictions.dense_prediction",
        .ignored = "embeddings.position_ids embeddings.token_type_ids",
    };
};
} // namespace families

template <encoder_config C>
using electra = encoder_model<C, families::electra>;

} // namespace ctt
