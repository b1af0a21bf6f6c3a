#pragma once
/**
 * @file
 * @brief RoBERTa (Liu et al., arXiv:1907.11692) and XLM-R as HF's `RobertaForMaskedLM` computes
 *        them: BERT's encoder with positions numbered from `pad_token_id + 1` over the non-pad
 *        tokens (pads keep `pad_token_id`), and an LM head whose transform is GELU (erf)
 *        whatever `hidden_act` says.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct roberta : encoder_spec {
    static constexpr position_numbering numbering = position_numbering::after_padding_idx;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr activation mlm_act = activation::gelu_erf;
    static constexpr encoder_names names{
        .base = "roberta.",
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
        .mlm_dense = "^lm_head.dense",
        .mlm_norm = "^lm_head.layer_norm",
        .mlm_decoder = "^lm_head.decoder",
        .mlm_bias = "^lm_head.bias",
        .ignored = "embeddings.position_ids embeddings.token_type_ids",
    };
};
} // namespace families

template <encoder_config C>
using roberta = encoder_model<C, families::roberta>;

} // namespace ctt
