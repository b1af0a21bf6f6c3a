#pragma once
/**
 * @file
 * @brief LLaMA (Touvron et al., arXiv:2302.13971) as HF's `LlamaForCausalLM` computes it:
 *        RMSNorm pre-norm layers, half-split rotary embeddings on Q and K, grouped-query
 *        attention, SwiGLU feed-forward, final RMSNorm, LM head tied or not. Alpaca, Koala and
 *        Vicuna are LLaMA checkpoints; PaLM-E prefixes go through `step_embeddings`.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
/// The LLaMA family (`attention_bias` and `mlp_bias` come from the config).
struct llama : decoder_spec {
    static constexpr norm_kind norm = norm_kind::rms_norm;
    static constexpr attention_position position = attention_position::rotary_half_split;
    static constexpr ffn_kind ffn = ffn_kind::gated;
    static constexpr bool tie_word_embeddings = false;
    static constexpr decoder_names names{
        .base = "model.",
        .embed_tokens = "embed_tokens",
        .layer = "layers.{}.",
        .norm1 = "input_layernorm",
        .norm2 = "post_attention_layernorm",
        .q = "self_attn.q_proj",
        .k = "self_attn.k_proj",
        .v = "self_attn.v_proj",
        .out = "self_attn.o_proj",
        .up = "mlp.up_proj",
        .gate = "mlp.gate_proj",
        .down = "mlp.down_proj",
        .final_norm = "norm",
        .layer_ignored = "self_attn.rotary_emb.inv_freq",
        .ignored = "rotary_emb.inv_freq",
    };
};
} // namespace families

/// LLaMA configured by `C`.
template <causal_lm_config C>
using llama = causal_lm<C, families::llama>;

} // namespace ctt
