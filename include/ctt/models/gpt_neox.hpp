#pragma once
/**
 * @file
 * @brief GPT-NeoX (Black et al., arXiv:2204.06745) and Pythia as HF's `GPTNeoXForCausalLM`
 *        computes them: partial half-split rotary (`rotary_pct`), the parallel residual
 *        `x + attn(ln1(x)) + mlp(ln2(x))` (sequential pre-norm when `use_parallel_residual` is
 *        false), QKV fused per head (`[heads][q, k, v]`, reordered at load), untied head.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct gpt_neox : decoder_spec {
    static constexpr norm_placement placement = norm_placement::parallel;
    static constexpr qkv_layout qkv = qkv_layout::fused_grouped;
    static constexpr bool qkv_bias = true;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr attention_position position = attention_position::rotary_half_split;
    static constexpr bool tie_word_embeddings = false;
    static constexpr decoder_names names{
        .base = "gpt_neox.",
        .embed_tokens = "embed_in",
        .layer = "layers.{}.",
        .norm1 = "input_layernorm",
        .norm2 = "post_attention_layernorm",
        .qkv = "attention.query_key_value",
        .out = "attention.dense",
        .up = "mlp.dense_h_to_4h",
        .down = "mlp.dense_4h_to_h",
        .final_norm = "final_layer_norm",
        .lm_head = "^lm_head|^embed_out",
        .layer_ignored = "attention.bias attention.masked_bias attention.rotary_emb.inv_freq",
        .ignored = "rotary_emb.inv_freq",
    };
};
} // namespace families

template <causal_lm_config C>
using gpt_neox = causal_lm<C, families::gpt_neox>;

} // namespace ctt
