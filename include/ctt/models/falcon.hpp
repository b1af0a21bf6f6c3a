#pragma once
/**
 * @file
 * @brief Falcon (Almazrouei et al., arXiv:2311.16867) as HF's `FalconForCausalLM` computes it:
 *        the parallel block of PaLM `x + attn(ln(x)) + mlp(ln(x))`, half-split rotary, GELU, no
 *        biases (`bias`), tied head. The config picks the variant: multi-query (`[q | k | v]`
 *        with one KV head), one group per head (`[heads][q, k, v]`), or the new decoder
 *        architecture (`num_kv_heads` groups, `ln_attn` and `ln_mlp`), and sequential layers
 *        when `parallel_attn` is false.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct falcon : decoder_spec {
    static constexpr norm_placement placement = norm_placement::parallel;
    static constexpr bool shared_norm = true;
    static constexpr qkv_layout qkv = qkv_layout::fused;
    static constexpr attention_position position = attention_position::rotary_half_split;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "word_embeddings",
        .layer = "h.{}.",
        .norm1 = "ln_attn|input_layernorm",
        .norm2 = "ln_mlp|post_attention_layernorm",
        .qkv = "self_attention.query_key_value",
        .out = "self_attention.dense",
        .up = "mlp.dense_h_to_4h",
        .down = "mlp.dense_4h_to_h",
        .final_norm = "ln_f",
        .layer_ignored = "self_attention.rotary_emb.inv_freq",
        .ignored = "rotary_emb.inv_freq",
    };
};
} // namespace families

template <causal_lm_config C>
using falcon = causal_lm<C, families::falcon>;

} // namespace ctt
