#pragma once
/**
 * @file
 * @brief PaLM (Chowdhery et al., arXiv:2204.02311, section 2): the parallel block
 *        `x + attn(ln(x)) + mlp(ln(x))` with one bias-free LayerNorm, SwiGLU, multi-query
 *        attention (`num_kv_heads = 1` in the config), half-split rotary, no biases anywhere,
 *        input and output embeddings shared. No HF class exists; the names follow the HF
 *        layout of its descendants (Cohere), whose case, with Falcon's, tests these numbers.
 */

#include "ctt/models/cohere.hpp"

namespace ctt {

namespace families {
struct palm : cohere {
    static constexpr attention_position position = attention_position::rotary_half_split;
};
} // namespace families

template <causal_lm_config C>
using palm = causal_lm<C, families::palm>;

} // namespace ctt
