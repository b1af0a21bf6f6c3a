#pragma once
/**
 * @file
 * @brief GPT-2 (Radford et al. 2019) as HF's `GPT2LMHeadModel` computes it: token + learned
 *        position embeddings, pre-norm decoder layers with fused QKV (`Conv1D`, `[in, out]`
 *        weights), tanh-GELU feed-forward, final LayerNorm and an LM head tied to the token
 *        embeddings; incremental decoding through a KV cache.
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

namespace ctt {

/// What a GPT-2 configuration provides (HF `GPT2Config` names in comments).
template <class C>
concept gpt2_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;        // vocab_size
    { C::hidden_size } -> std::convertible_to<index_t>;       // n_embd
    { C::num_heads } -> std::convertible_to<index_t>;         // n_head
    { C::intermediate_size } -> std::convertible_to<index_t>; // n_inner (4 * n_embd if null)
    { C::num_layers } -> std::convertible_to<index_t>;        // n_layer
    { C::max_positions } -> std::convertible_to<index_t>;     // n_positions
    { C::hidden_act } -> std::convertible_to<activation>;     // activation_function
    { C::layer_norm_eps } -> std::convertible_to<float>;      // layer_norm_epsilon
    { C::scale_attn_weights } -> std::convertible_to<bool>;   // scale_attn_weights
};

/**
 * @brief GPT-2 with its LM head (HF `GPT2LMHeadModel`), or with a sequence-score head when the
 *        config says `head = causal_lm_head::sequence_score` (HF
 *        `GPT2ForSequenceClassification`: `num_labels` scores read at the last token that is not
 *        `pad_token_id`; a reward model when `num_labels` is 1).
 */
template <gpt2_config C>
class gpt2 {
public:
    using config = C;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t heads = C::num_heads;
    static_assert(hidden % heads == 0, "gpt2: n_embd must be a multiple of n_head");
    static constexpr index_t head_dim = hidden / heads;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t vocab = C::vocab_size;
    static constexpr index_t num_layers = C::num_layers;
    static constexpr causal_lm_head head = detail::head_of<C>();
    static constexpr index_t num_labels = detail::num_labels_of<C>();

    struct layer {
        attention_block<hidden, heads, heads, head_dim,
                        fused_qkv<hidden, hidden, hidden, true, weight_layout::in_out>, true,
                        weight_layout::in_out>
            attention;
        feed_forward<hidden, inner, C::hidden_act, true, weight_layout::in_out> ffn;
        residual_layer<norm_placement::pre, layer_norm_block<hidden>> norms;
    };
    using session_type = layered_kv_cache<num_layers, heads, head_dim>;

    gpt2()
        : layers_(num_layers) {
        for (auto& l : layers_) {
            l.norms.norm1.eps = C::layer_norm_eps;
            l.norms.norm2.eps = C::layer_norm_eps;
        }
        final_norm_.eps = C::layer_norm_eps;
    }

    /// Empty KV caches for up to `capacity` tokens (at most `n_positions`).
    [[nodiscard]] session_type new_session(index_t capacity) const {
        detail::check_at_most("gpt2: session capacity and n_positions differ", capacity,
                              C::max_positions);
        return session_type(capacity);
    }

    /**
     * @brief Appends `tokens` to the sequence of `session` and writes their logits
     *        (`[tokens.size(), vocab]`). With `hidden_states`, also the embeddings and each
     *        layer's output (the last after the final norm, as HF reports it).
     */
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits,
              std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states = nullptr) const
        requires(head == causal_lm_head::lm) {
        const auto x = run(session, tokens, hidden_states);
        head_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                      token_embeddings_.view(), logits);
    }

    /**
     * @brief The scores of each sequence of `ids` (`[batch, length]`), read at its last token
     *        that is not `pad_token_id`: `[batch, num_labels]`.
     */
    [[nodiscard]] tensor<float, shape<dyn, num_labels>> scores(token_ids ids) const
        requires(head == causal_lm_head::sequence_score) {
        const index_t batch = ids.rows();
        tensor<float, shape<dyn, hidden>> last(batch);
        for (index_t b = 0; b < batch; ++b) {
            auto session = new_session(ids.cols());
            const auto x = run(session, sequence(ids, b), nullptr);
            const index_t t = last_non_pad_position(sequence(ids, b), C::pad_token_id);
            copy(tensor_view<const float, shape<hidden>>(x[t]), last[b]);
        }
        tensor<float, shape<dyn, num_labels>> out(batch);
        score_.score.forward(tensor_view<const float, shape<dyn, hidden>>(last.view()), out.view());
        return out;
    }

private:
    /// Runs the decoder over `tokens` appended to `session`; returns the final-norm output.
    tensor<float, shape<dyn, hidden>>
    run(session_type& session, std::span<const std::int32_t> tokens,
        std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states) const {
        const index_t n = tokens.size();
        const index_t past = session.length();
        detail::check_at_most("gpt2: sequence length and n_positions differ", past + n,
                              C::max_positions);
        tensor<float, shape<dyn, hidden>> x(n);
        embedding_lookup(token_embeddings_.view(), tokens, x.view());
        embedding_lookup_add(position_embeddings_.view(), offset_position_ids(n, past), x.view());
        const attention_params params =
            C::scale_attn_weights ? attention_params{} : attention_params{}.with_scale(1.f);
        tensor<float, shape<dyn, inner>> ffn_scratch;
        detail::run_decoder_stack(
            layers_, session, final_norm_, x, 1, hidden_states, ffn_scratch,
            [&](const layer& l, auto& cache, auto in, auto y, bool acc, auto& ws) {
                l.attention.forward_cached(in, y, acc, cache, causal_mask{}, no_bias{},
                                           no_transform{}, no_transform{}, params, ws);
            });
        return x;
    }

public:
    /// HF names of `GPT2LMHeadModel`.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        const std::string t = prefix + "transformer.";
        v.parameter(t + "wte.weight", token_embeddings_.view());
        v.parameter(t + "wpe.weight", position_embeddings_.view());
        for (index_t i = 0; i < num_layers; ++i) {
            auto& l = layers_[i];
            const std::string p = t + "h." + std::to_string(i) + ".";
            l.norms.norm1.visit_parameters(v, p + "ln_1.");
            l.attention.projection.qkv.visit_parameters(v, p + "attn.c_attn.");
            l.attention.out.visit_parameters(v, p + "attn.c_proj.");
            l.norms.norm2.visit_parameters(v, p + "ln_2.");
            l.ffn.up.visit_parameters(v, p + "mlp.c_fc.");
            l.ffn.down.visit_parameters(v, p + "mlp.c_proj.");
            // Buffers older checkpoints carry: the causal mask and its fill value.
            v.ignore(p + "attn.bias");
            v.ignore(p + "attn.masked_bias");
        }
        final_norm_.visit_parameters(v, t + "ln_f.");
        if constexpr (head == causal_lm_head::lm) {
            v.ignore(prefix + "lm_head.weight"); // tied to wte
        } else {
            score_.score.visit_parameters(v, prefix + "score.");
        }
    }

private:
    tensor<float, shape<vocab, hidden>> token_embeddings_;
    tensor<float, shape<C::max_positions, hidden>> position_embeddings_;
    std::vector<layer> layers_;
    layer_norm_block<hidden> final_norm_;
    lm_head<hidden, vocab, true> head_;
    [[no_unique_address]] std::conditional_t<head == causal_lm_head::sequence_score,
                                             sequence_score_head<hidden, num_labels>,
                                             detail::absent>
        score_;
};

} // namespace ctt
