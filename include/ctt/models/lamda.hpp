#pragma once
/**
 * @file
 * @brief LaMDA (Thoppilan et al., arXiv:2201.08239) as the golden reference builds it: HF's
 *        T5 decoder stack used alone (`is_decoder`, no cross-attention), so causal self-attention
 *        with T5's bucketed relative bias (one table, in block 0, shared by every layer), no
 *        `1/sqrt(d)` scale, RMS norm, gated-GELU (or ReLU) feed-forward, and an untied LM head.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct lamda : decoder_spec {
    static constexpr norm_kind norm = norm_kind::rms_norm;
    static constexpr attention_position position = attention_position::t5_buckets;
    static constexpr ffn_kind ffn = ffn_kind::gated; // the config's `ffn` says dense for ReLU
    static constexpr bool tie_word_embeddings = false;
    static constexpr decoder_names names{
        .base = "",
        .embed_tokens = "embed_tokens|decoder.embed_tokens",
        .layer = "decoder.block.{}.layer.",
        .norm1 = "0.layer_norm",
        .norm2 = "2.layer_norm|1.layer_norm",
        .q = "0.SelfAttention.q",
        .k = "0.SelfAttention.k",
        .v = "0.SelfAttention.v",
        .out = "0.SelfAttention.o",
        .up = "2.DenseReluDense.wi_1|2.DenseReluDense.wi|1.DenseReluDense.wi_1|1.DenseReluDense.wi",
        .gate = "2.DenseReluDense.wi_0|1.DenseReluDense.wi_0",
        .down = "2.DenseReluDense.wo|1.DenseReluDense.wo",
        .relative_bias = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias",
        .final_norm = "decoder.final_layer_norm",
        .ignored = "decoder.embed_tokens.weight",
    };
};
} // namespace families

template <causal_lm_config C>
using lamda = causal_lm<C, families::lamda>;

} // namespace ctt
