#pragma once
/**
 * @file
 * @brief Qwen3-MoE as HF's `Qwen3MoeForCausalLM` computes it, and through it GLaM (Du et al.,
 *        arXiv:2112.06905): dense and mixture-of-experts layers alternating (experts in every
 *        `decoder_sparse_step`-th layer), top-k of the softmax router, renormalised when
 *        `norm_topk_prob`; LLaMA's attention plus a per-head RMS norm of q and k before rotary.
 */

#include "ctt/models/causal_lm.hpp"
#include "ctt/models/llama.hpp"

namespace ctt {

namespace families {
struct qwen3_moe : llama {
    static constexpr bool qk_norm = true;
    static constexpr bool mixture_of_experts = true;
    static constexpr decoder_names names = [] {
        decoder_names n = llama::names;
        n.q_norm = "self_attn.q_norm";
        n.k_norm = "self_attn.k_norm";
        n.router = "mlp.gate";
        n.experts = "mlp.experts";
        n.expert_gate = "mlp.experts.{e}.gate_proj";
        n.expert_up = "mlp.experts.{e}.up_proj";
        n.expert_down = "mlp.experts.{e}.down_proj";
        return n;
    }();
};
} // namespace families

template <causal_lm_config C>
using qwen3_moe = causal_lm<C, families::qwen3_moe>;

} // namespace ctt
