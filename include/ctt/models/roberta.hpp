#pragma once
/**
 * @file
 * @brief RoBERTa (Liu et al., arXiv:1907.11692) and XLM-R as HF's `RobertaForMaskedLM` computes
 *        them: BERT's encoder with positions numbered from `pad_token_id + 1` over the non-pad
 *        tokens (pads keep `pad_token_id`), and an LM head whose transform is GELU (erf)
 *        whatever `hidden_act` says.
 */

#include "ctt/models/bert.hpp"

namespace ctt {

namespace families {
struct roberta : encoder_spec {
    static constexpr position_numbering numbering = position_numbering::after_padding_idx;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr activation mlm_act = activation::gelu_erf;
    static constexpr encoder_names names = [] {
        encoder_names n = bert_layout("roberta.");
        n.pooler = "pooler.dense";
        n.mlm_dense = "^lm_head.dense";
        n.mlm_norm = "^lm_head.layer_norm";
        n.mlm_decoder = "^lm_head.decoder";
        n.mlm_bias = "^lm_head.bias";
        return n;
    }();
};
} // namespace families

template <encoder_config C>
using roberta = encoder_model<C, families::roberta>;

} // namespace ctt
