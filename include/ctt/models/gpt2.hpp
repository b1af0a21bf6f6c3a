#pragma once
/**
 * @file
 * @brief GPT-2 (Radford et al. 2019) as HF's `GPT2LMHeadModel` computes it: token + learned
 *        position embeddings, pre-LayerNorm layers, fused QKV in `Conv1D` layout (`[in, out]`),
 *        GELU feed-forward, final LayerNorm, LM head tied to the token embeddings. With
 *        `head = causal_lm_head::sequence_score` in the config: `GPT2ForSequenceClassification`,
 *        the reward model of InstructGPT and Sparrow.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
/// The GPT-2 family (`scale_attn_weights = false` becomes the config's `attention_scale = 1`).
struct gpt2 : decoder_spec {
    static constexpr position_embedding positions = position_embedding::learned;
    static constexpr qkv_layout qkv = qkv_layout::fused;
    static constexpr weight_layout weights = weight_layout::in_out;
    static constexpr bool qkv_bias = true;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "wte",
        .embed_positions = "wpe",
        .layer = "h.{}.",
        .norm1 = "ln_1",
        .norm2 = "ln_2",
        .qkv = "attn.c_attn",
        .out = "attn.c_proj",
        .up = "mlp.c_fc",
        .down = "mlp.c_proj",
        .final_norm = "ln_f",
        .layer_ignored = "attn.bias attn.masked_bias", // the causal mask buffers of old files
    };
};
} // namespace families

/// GPT-2 configured by `C` (generated from `config.json`, see `io/hf_config.hpp`).
template <causal_lm_config C>
using gpt2 = causal_lm<C, families::gpt2>;

} // namespace ctt
