#pragma once
/**
 * @file
 * @brief DeBERTa (He et al., arXiv:2006.03654) as HF's `DebertaForMaskedLM` computes it:
 *        disentangled attention (content plus the c2p / p2c terms of `pos_att_type`) over
 *        relative embeddings, a fused per-head `in_proj` with its own q and v biases (reordered
 *        at load), positions in the input only with `position_biased_input`.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct deberta : encoder_spec {
    static constexpr position_embedding positions = position_embedding::none;
    static constexpr encoder_attention attention = encoder_attention::disentangled;
    static constexpr qkv_layout qkv = qkv_layout::fused_grouped;
    static constexpr bool pos_key_bias = false;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr encoder_names names{
        .base = "deberta.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_token_types = "embeddings.token_type_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .layer = "encoder.layer.{}.",
        .norm1 = "attention.output.LayerNorm",
        .norm2 = "output.LayerNorm",
        .qkv = "attention.self.in_proj",
        .q_bias = "attention.self.q_bias",
        .v_bias = "attention.self.v_bias",
        .pos_key = "attention.self.pos_proj",
        .pos_query = "attention.self.pos_q_proj",
        .out = "attention.output.dense",
        .up = "intermediate.dense",
        .down = "output.dense",
        .rel_embeddings = "encoder.rel_embeddings",
        .mlm_dense = "^cls.predictions.transform.dense|^lm_predictions.lm_head.dense",
        .mlm_norm = "^cls.predictions.transform.LayerNorm|^lm_predictions.lm_head.LayerNorm",
        .mlm_decoder = "^cls.predictions.decoder",
        .mlm_bias = "^cls.predictions.bias|^lm_predictions.lm_head.bias",
        .ignored = "embeddings.position_ids",
    };
};

/// DeBERTa-v2/v3: separate projections, log-bucketed positions, optional shared keys and
/// relative-embedding LayerNorm.
struct deberta_v2 : deberta {
    static constexpr qkv_layout qkv = qkv_layout::separate;
    static constexpr bool pos_key_bias = true;
    static constexpr encoder_names names{
        .base = "deberta.",
        .embed_tokens = "embeddings.word_embeddings",
        .embed_positions = "embeddings.position_embeddings",
        .embed_token_types = "embeddings.token_type_embeddings",
        .embed_norm = "embeddings.LayerNorm",
        .layer = "encoder.layer.{}.",
        .norm1 = "attention.output.LayerNorm",
        .norm2 = "output.LayerNorm",
        .q = "attention.self.query_proj",
        .k = "attention.self.key_proj",
        .v = "attention.self.value_proj",
        .pos_key = "attention.self.pos_key_proj",
        .pos_query = "attention.self.pos_query_proj",
        .out = "attention.output.dense",
        .up = "intermediate.dense",
        .down = "output.dense",
        .rel_embeddings = "encoder.rel_embeddings",
        .rel_norm = "encoder.LayerNorm",
        .mlm_dense = deberta::names.mlm_dense,
        .mlm_norm = deberta::names.mlm_norm,
        .mlm_decoder = deberta::names.mlm_decoder,
        .mlm_bias = deberta::names.mlm_bias,
        .ignored = "embeddings.position_ids",
    };
};
} // namespace families

template <encoder_config C>
using deberta = encoder_model<C, families::deberta>;
template <encoder_config C>
using deberta_v2 = encoder_model<C, families::deberta_v2>;

} // namespace ctt
