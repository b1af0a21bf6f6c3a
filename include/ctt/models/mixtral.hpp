#pragma once
/**
 * @file
 * @brief Mixtral (Jiang et al., arXiv:2401.04088) as HF's `MixtralForCausalLM` computes it:
 *        LLaMA's layers with a mixture of SwiGLU experts in every layer (softmax router, top-k,
 *        renormalised), grouped-query attention, and Mistral's sliding window when the config
 *        sets `sliding_window`.
 */

#include "ctt/models/causal_lm.hpp"
#include "ctt/models/llama.hpp"

namespace ctt {

namespace families {
struct mixtral : llama {
    static constexpr bool mixture_of_experts = true;
    static constexpr decoder_names names = [] {
        decoder_names n = llama::names;
        n.router = "mlp.gate|block_sparse_moe.gate";
        n.experts = "mlp.experts|block_sparse_moe.experts";
        n.expert_gate = "block_sparse_moe.experts.{e}.w1|mlp.experts.{e}.w1";
        n.expert_up = "block_sparse_moe.experts.{e}.w3|mlp.experts.{e}.w3";
        n.expert_down = "block_sparse_moe.experts.{e}.w2|mlp.experts.{e}.w2";
        return n;
    }();
};
} // namespace families

template <causal_lm_config C>
using mixtral = causal_lm<C, families::mixtral>;

} // namespace ctt
