#pragma once
/**
 * @file
 * @brief CTRL (Keskar et al., arXiv:1909.05858) as HF's `CTRLLMHeadModel` computes it: token
 *        embeddings scaled by `sqrt(d)` plus CTRL's float32 `[sin | cos]` position table,
 *        pre-LayerNorm layers with ReLU feed-forward, a tied LM head with a bias. The control
 *        code is simply the prompt's first token.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct ctrl : decoder_spec {
    static constexpr position_embedding positions = position_embedding::sinusoidal;
    static constexpr bool scale_embeddings = true;
    static constexpr bool qkv_bias = true;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr bool head_bias = true;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "w",
        .layer = "h.{}.",
        .norm1 = "layernorm1",
        .norm2 = "layernorm2",
        .q = "multi_head_attention.Wq",
        .k = "multi_head_attention.Wk",
        .v = "multi_head_attention.Wv",
        .out = "multi_head_attention.dense",
        .up = "ffn.0",
        .down = "ffn.2",
        .final_norm = "layernorm",
    };
};
} // namespace families

template <causal_lm_config C>
using ctrl = causal_lm<C, families::ctrl>;

} // namespace ctt
