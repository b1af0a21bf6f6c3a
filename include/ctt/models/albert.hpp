#pragma once
/**
 * @file
 * @brief ALBERT (Lan et al., arXiv:1909.11942) as HF's `AlbertForPreTraining` computes it:
 *        factorised embeddings (width `embedding_size`, projected to `hidden_size`), one set of
 *        layer weights per group shared by `num_hidden_layers / num_hidden_groups` layers
 *        (`inner_group_num` layers per group), the masked-LM head at the embedding width, the
 *        pooler and the sentence-order head.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct albert : encoder_spec {
    static constexpr encoder_heads heads =
        encoder_heads::pooler | encoder_heads::masked_lm | encoder_heads::sentence_pair;
    static constexpr encoder_names names{
        .base = "albert.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_token_types = "embeddings.token_type_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .embed_projection = "encoder.embedding_hidden_mapping_in",
        .layer = "encoder.albert_layer_groups.{g}.albert_layers.{}.",
        .norm1 = "attention.LayerNorm",
        .norm2 = "full_layer_layer_norm",
        .q = "attention.query",
        .k = "attention.key",
        .v = "attention.value",
        .out = "attention.dense",
        .up = "ffn",
        .down = "ffn_output",
        .pooler = "pooler",
        .mlm_dense = "^predictions.dense",
        .mlm_norm = "^predictions.LayerNorm",
        .mlm_decoder = "^predictions.decoder",
        .mlm_bias = "^predictions.bias",
        .sentence_pair = "^sop_classifier.classifier",
        .ignored = "embeddings.position_ids embeddings.token_type_ids",
    };
};
} // namespace families

template <encoder_config C>
using albert = encoder_model<C, families::albert>;

} // namespace ctt
