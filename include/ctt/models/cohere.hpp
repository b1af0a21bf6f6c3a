#pragma once
/**
 * @file
 * @brief Cohere Command-R as HF's `CohereForCausalLM` computes it, PaLM's block in an HF model:
 *        one bias-free LayerNorm before a parallel attention + SwiGLU, interleaved rotary,
 *        grouped-query attention, a tied head whose logits are multiplied by `logit_scale`.
 */

#include "ctt/models/causal_lm.hpp"

namespace ctt {

namespace families {
struct cohere : decoder_spec {
    static constexpr norm_kind norm = norm_kind::layer_norm_without_bias;
    static constexpr norm_placement placement = norm_placement::parallel;
    static constexpr bool shared_norm = true;
    static constexpr attention_position position = attention_position::rotary_interleaved;
    static constexpr ffn_kind ffn = ffn_kind::gated;
    static constexpr decoder_names names{
        .base = "model.",
        .embed_tokens = "embed_tokens",
        .layer = "layers.{}.",
        .norm1 = "input_layernorm",
        .q = "self_attn.q_proj",
        .k = "self_attn.k_proj",
        .v = "self_attn.v_proj",
        .out = "self_attn.o_proj",
        .up = "mlp.up_proj",
        .gate = "mlp.gate_proj",
        .down = "mlp.down_proj",
        .final_norm = "norm",
        .ignored = "rotary_emb.inv_freq",
    };
};
} // namespace families

template <causal_lm_config C>
using cohere = causal_lm<C, families::cohere>;

} // namespace ctt
