#pragma once
/**
 * @file
 * @brief GPT-Neo (Black et al. 2021) as HF's `GPTNeoForCausalLM` computes it: GPT-2's layout
 *        with separate projections, global and local layers alternating as `attention_types`
 *        says (local: a causal band of `window_size` keys, the config's `layer_windows`), and no
 *        `1/sqrt(d)` scale (the config's `attention_scale = 1`).
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct gpt_neo : decoder_spec {
    static constexpr position_embedding positions = position_embedding::learned;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = true;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "wte",
        .embed_positions = "wpe",
        .layer = "h.{}.",
        .norm1 = "ln_1",
        .norm2 = "ln_2",
        .q = "attn.attention.q_proj",
        .k = "attn.attention.k_proj",
        .v = "attn.attention.v_proj",
        .out = "attn.attention.out_proj",
        .up = "mlp.c_fc",
        .down = "mlp.c_proj",
        .final_norm = "ln_f",
        .layer_ignored = "attn.attention.bias attn.attention.masked_bias",
    };
};
} // namespace families

template <causal_lm_config C>
using gpt_neo = causal_lm<C, families::gpt_neo>;

} // namespace ctt
