#pragma once
/**
 * @file
 * @brief BERT (Devlin et al., arXiv:1810.04805) as HF's `BertModel`, `BertForMaskedLM` and
 *        `BertForPreTraining` compute it: word + learned position + token-type embeddings,
 *        LayerNorm, post-norm layers, and the masked-LM, pooler and next-sentence heads. LaBSE
 *        is this model embedded with `pooling::pooler` and L2 normalisation.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct bert : encoder_spec {
    static constexpr encoder_heads heads =
        encoder_heads::pooler | encoder_heads::masked_lm | encoder_heads::sentence_pair;
    static constexpr encoder_names names{
        .base = "bert.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_token_types = "embeddings.token_type_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .layer = "encoder.layer.{}.",
        .norm1 = "attention.output.LayerNorm",
        .norm2 = "output.LayerNorm",
        .q = "attention.self.query",
        .k = "attention.self.key",
        .v = "attention.self.value",
        .out = "attention.output.dense",
        .up = "intermediate.dense",
        .down = "output.dense",
        .pooler = "pooler.dense",
        .mlm_dense = "^cls.predictions.transform.dense",
        .mlm_norm = "^cls.predictions.transform.LayerNorm",
        .mlm_decoder = "^cls.predictions.decoder",
        .mlm_bias = "^cls.predictions.bias",
        .sentence_pair = "^cls.seq_relationship",
        .ignored = "embeddings.position_ids embeddings.token_type_ids",
    };
};
} // namespace families

/// BERT configured by `C` (heads: the config's `heads`, else pre-training's three).
template <encoder_config C>
using bert = encoder_model<C, families::bert>;

} // namespace ctt
