#pragma once
/**
 * @file
 * @brief LLaMA (Touvron et al., arXiv:2302.13971) as HF's `LlamaForCausalLM` computes it:
 *        RMSNorm pre-norm layers, rotary embeddings (half-split) on Q and K, grouped-query
 *        attention, SwiGLU feed-forward, final RMSNorm and an LM head; incremental decoding
 *        through a KV cache whose keys are rotated once, as they enter it.
 */

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/models/decoder_stack.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/rotary.hpp"

namespace ctt {

/// What a LLaMA configuration provides (HF `LlamaConfig` names in comments).
template <class C>
concept llama_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;        // vocab_size
    { C::hidden_size } -> std::convertible_to<index_t>;       // hidden_size
    { C::num_heads } -> std::convertible_to<index_t>;         // num_attention_heads
    { C::num_kv_heads } -> std::convertible_to<index_t>;      // num_key_value_heads
    { C::head_dim } -> std::convertible_to<index_t>;          // head_dim
    { C::intermediate_size } -> std::convertible_to<index_t>; // intermediate_size
    { C::num_layers } -> std::convertible_to<index_t>;        // num_hidden_layers
    { C::max_positions } -> std::convertible_to<index_t>;     // max_position_embeddings
    { C::hidden_act } -> std::convertible_to<activation>;     // hidden_act
    { C::rms_norm_eps } -> std::convertible_to<float>;        // rms_norm_eps
    { C::rope_theta } -> std::convertible_to<double>;         // rope_parameters.rope_theta
    { C::attention_bias } -> std::convertible_to<bool>;       // attention_bias
    { C::mlp_bias } -> std::convertible_to<bool>;             // mlp_bias
    { C::tie_word_embeddings } -> std::convertible_to<bool>;  // tie_word_embeddings
};

/** @brief LLaMA with its LM head; weights under HF's `LlamaForCausalLM` names. */
template <llama_config C>
class llama {
public:
    using config = C;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t heads = C::num_heads;
    static constexpr index_t kv_heads = C::num_kv_heads;
    static constexpr index_t head_dim = C::head_dim;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t vocab = C::vocab_size;
    static constexpr index_t num_layers = C::num_layers;
    static_assert(heads % kv_heads == 0, CTT_MSG_ATTENTION_GQA);

    struct layer {
        attention_block<
            hidden, heads, kv_heads, head_dim,
            separate_qkv<hidden, heads * head_dim, kv_heads * head_dim, C::attention_bias>,
            C::attention_bias>
            attention;
        gated_feed_forward<hidden, inner, C::hidden_act, C::mlp_bias> ffn;
        residual_layer<norm_placement::pre, rms_norm_block<hidden>> norms;
    };
    using session_type = layered_kv_cache<num_layers, kv_heads, head_dim>;

    llama()
        : layers_(num_layers)
        , rotary_(head_dim, C::max_positions, C::rope_theta) {
        for (auto& l : layers_) {
            l.norms.norm1.eps = C::rms_norm_eps;
            l.norms.norm2.eps = C::rms_norm_eps;
        }
        final_norm_.eps = C::rms_norm_eps;
    }

    /// Empty KV caches for up to `capacity` tokens (at most `max_position_embeddings`).
    [[nodiscard]] session_type new_session(index_t capacity) const {
        detail::check_at_most("llama: session capacity and max_position_embeddings differ",
                              capacity, C::max_positions);
        return session_type(capacity);
    }

    /**
     * @brief Appends `tokens` to the sequence of `session` and writes their logits. With
     *        `hidden_states`, also the embeddings and each layer's output (the last after the
     *        final norm, as HF reports it).
     */
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits,
              std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states = nullptr) const {
        const index_t n = tokens.size();
        tensor<float, shape<dyn, hidden>> x(n);
        embedding_lookup(token_embeddings_.view(), tokens, x.view());
        run_layers(session, x, hidden_states);
        head_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                      token_embeddings_.view(), logits);
    }

    /**
     * @brief As `step`, from input embeddings instead of token ids: PaLM-E style prefixes
     *        (image or sensor embeddings before the text) go through here.
     */
    void step_embeddings(session_type& session, tensor_view<const float, shape<dyn, hidden>> input,
                         tensor_view<float, shape<dyn, vocab>> logits) const {
        tensor<float, shape<dyn, hidden>> x(input.rows());
        copy(input, x.view());
        run_layers(session, x, nullptr);
        head_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                      token_embeddings_.view(), logits);
    }

    /// HF names of `LlamaForCausalLM`.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        const std::string m = prefix + "model.";
        v.parameter(m + "embed_tokens.weight", token_embeddings_.view());
        for (index_t i = 0; i < num_layers; ++i) {
            auto& l = layers_[i];
            const std::string p = m + "layers." + std::to_string(i) + ".";
            l.norms.norm1.visit_parameters(v, p + "input_layernorm.");
            l.attention.projection.q.visit_parameters(v, p + "self_attn.q_proj.");
            l.attention.projection.k.visit_parameters(v, p + "self_attn.k_proj.");
            l.attention.projection.v.visit_parameters(v, p + "self_attn.v_proj.");
            l.attention.out.visit_parameters(v, p + "self_attn.o_proj.");
            l.norms.norm2.visit_parameters(v, p + "post_attention_layernorm.");
            l.ffn.gate.visit_parameters(v, p + "mlp.gate_proj.");
            l.ffn.up.visit_parameters(v, p + "mlp.up_proj.");
            l.ffn.down.visit_parameters(v, p + "mlp.down_proj.");
            v.ignore(p + "self_attn.rotary_emb.inv_freq");
        }
        v.ignore(m + "rotary_emb.inv_freq");
        final_norm_.visit_parameters(v, m + "norm.");
        if constexpr (C::tie_word_embeddings) {
            v.ignore(prefix + "lm_head.weight");
        } else {
            v.parameter(prefix + "lm_head.weight", head_.weight.view());
        }
    }

private:
    void run_layers(session_type& session, tensor<float, shape<dyn, hidden>>& x,
                    std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states) const {
        detail::check_at_most("llama: sequence length and max_position_embeddings differ",
                              session.length() + x.rows(), C::max_positions);
        tensor<float, shape<dyn, inner>> ffn_scratch;
        detail::run_decoder_stack(
            layers_, session, final_norm_, x, 2, hidden_states, ffn_scratch,
            [&](const layer& l, auto& cache, auto in, auto y, bool acc, auto& ws) {
                l.attention.forward_cached(in, y, acc, cache, causal_mask{}, no_bias{}, rotary_,
                                           rotary_, attention_params{}, ws);
            });
    }

    tensor<float, shape<vocab, hidden>> token_embeddings_;
    std::vector<layer> layers_;
    rms_norm_block<hidden> final_norm_;
    lm_head<hidden, vocab, C::tie_word_embeddings> head_;
    rotary_embedding<rotary_layout::half_split> rotary_;
};

} // namespace ctt
