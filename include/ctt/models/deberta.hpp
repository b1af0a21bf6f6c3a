#pragma once
/**
 * @file
 * @brief DeBERTa (He et al., arXiv:2006.03654) as HF's `DebertaForMaskedLM` computes it:
 *        disentangled attention (content plus the c2p / p2c terms of `pos_att_type`) over
 *        relative embeddings, a fused per-head `in_proj` with its own q and v biases (reordered
 *        at load), positions in the input only with `position_biased_input`.
 */

#include "ctt/models/bert.hpp"

namespace ctt {

namespace families {
struct deberta : encoder_spec {
    static constexpr position_embedding positions = position_embedding::none;
    static constexpr encoder_attention attention = encoder_attention::disentangled;
    static constexpr qkv_layout qkv = qkv_layout::fused_grouped;
    static constexpr bool pos_key_bias = false;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
    static constexpr encoder_names names = [] {
        encoder_names n = bert_layout("deberta.");
        n.q = n.k = n.v = {};
        n.qkv = "attention.self.in_proj";
        n.q_bias = "attention.self.q_bias";
        n.v_bias = "attention.self.v_bias";
        n.pos_key = "attention.self.pos_proj";
        n.pos_query = "attention.self.pos_q_proj";
        n.rel_embeddings = "encoder.rel_embeddings";
        // The legacy masked-LM head's names, then the newer ones.
        n.mlm_dense = "^cls.predictions.transform.dense|^lm_predictions.lm_head.dense";
        n.mlm_norm = "^cls.predictions.transform.LayerNorm|^lm_predictions.lm_head.LayerNorm";
        n.mlm_decoder = "^cls.predictions.decoder";
        n.mlm_bias = "^cls.predictions.bias|^lm_predictions.lm_head.bias";
        n.ignored = "embeddings.position_ids";
        return n;
    }();
};

/// DeBERTa-v2/v3: separate projections, log-bucketed positions, optional shared keys and
/// relative-embedding LayerNorm.
struct deberta_v2 : deberta {
    static constexpr qkv_layout qkv = qkv_layout::separate;
    static constexpr bool pos_key_bias = true;
    static constexpr encoder_names names = [] {
        encoder_names n = deberta::names;
        n.qkv = n.q_bias = n.v_bias = {};
        n.q = "attention.self.query_proj";
        n.k = "attention.self.key_proj";
        n.v = "attention.self.value_proj";
        n.pos_key = "attention.self.pos_key_proj";
        n.pos_query = "attention.self.pos_query_proj";
        n.rel_norm = "encoder.LayerNorm";
        return n;
    }();
};
} // namespace families

template <encoder_config C>
using deberta = encoder_model<C, families::deberta>;
template <encoder_config C>
using deberta_v2 = encoder_model<C, families::deberta_v2>;

} // namespace ctt
