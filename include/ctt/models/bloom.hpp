#pragma once
/**
 * @file
 * @brief BLOOM (BigScience, arXiv:2211.05100) as HF's `BloomForCausalLM` computes it: a
 *        LayerNorm right after the token embeddings, ALiBi (Press et al., arXiv:2108.12409)
 *        with slopes for any head count, QKV fused per head (reordered at load), tanh-GELU,
 *        tied head. No position table: sequences are bounded only by the session's capacity.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct bloom : decoder_spec {
    static constexpr bool embedding_norm = true;
    static constexpr qkv_layout qkv = qkv_layout::fused_grouped;
    static constexpr bool qkv_bias = true;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr attention_position position = attention_position::alibi;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "word_embeddings",
        .embed_norm = "word_embeddings_layernorm",
        .layer = "h.{}.",
        .norm1 = "input_layernorm",
        .norm2 = "post_attention_layernorm",
        .qkv = "self_attention.query_key_value",
        .out = "self_attention.dense",
        .up = "mlp.dense_h_to_4h",
        .down = "mlp.dense_4h_to_h",
        .final_norm = "ln_f",
    };
};
} // namespace families

template <causal_lm_config C>
using bloom = causal_lm<C, families::bloom>;

} // namespace ctt
