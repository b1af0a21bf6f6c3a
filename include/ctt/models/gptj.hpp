#pragma once
/**
 * @file
 * @brief GPT-J (Wang & Komatsuzaki 2021) as HF's `GPTJForCausalLM` computes it: interleaved
 *        partial rotary (`rotate_every_two` over `rotary_dim` components), the parallel block
 *        with one LayerNorm `x + attn(ln(x)) + mlp(ln(x))`, bias-free Q/K/V/O, an untied LM head
 *        with a bias.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct gptj : decoder_spec {
    static constexpr norm_placement placement = norm_placement::parallel;
    static constexpr bool shared_norm = true;
    static constexpr bool ffn_bias = true;
    static constexpr attention_position position = attention_position::rotary_interleaved;
    static constexpr bool tie_word_embeddings = false;
    static constexpr bool head_bias = true;
    static constexpr decoder_names names{
        .base = "transformer.",
        .embed_tokens = "wte",
        .layer = "h.{}.",
        .norm1 = "ln_1",
        .q = "attn.q_proj",
        .k = "attn.k_proj",
        .v = "attn.v_proj",
        .out = "attn.out_proj",
        .up = "mlp.fc_in",
        .down = "mlp.fc_out",
        .final_norm = "ln_f",
        .layer_ignored = "attn.bias attn.masked_bias attn.embed_positions",
    };
};
} // namespace families

template <causal_lm_config C>
using gptj = causal_lm<C, families::gptj>;

} // namespace ctt
