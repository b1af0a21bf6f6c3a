#pragma once
/**
 * @file
 * @brief `causal_lm<Config, Spec>`: every decoder-only transformer of the review as one template.
 *
 * A family is not a class. It is a *spec*: a struct deriving from `decoder_spec` that overrides
 * the compile-time slots where the family differs (norm, wiring, Q/K/V layout, positional role,
 * feed-forward, head) and gives its Hugging Face names as a `decoder_names` table. The *config*
 * (generated from `config.json` by `ctt_add_hf_model`, or written by hand) holds the sizes and
 * values, and may override any slot by a member of the same name (Falcon's wiring and QKV
 * layout, NeoX's `use_parallel_residual`, `tie_word_embeddings`, ...). See
 * `models/gpt_neox.hpp` for a family in full.
 *
 * The model provides, for every family: KV-cache sessions, `step` (token ids) and
 * `step_embeddings` (PaLM-E style prefixes), a sequence-score head (`scores`, InstructGPT and
 * Sparrow's reward), the hidden states HF reports, and `visit_parameters` under the table's
 * names.
 */

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/mixture_of_experts.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/blocks/qk_norm.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/kernels/elementwise.hpp"
#include "ctt/models/hf_names.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/models/spec_slots.hpp"
#include "ctt/position/alibi.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/rotary.hpp"
#include "ctt/position/sinusoidal.hpp"
#include "ctt/position/t5_bias.hpp"

namespace ctt {

/**
 * @brief Where a family's tensors live in a Hugging Face checkpoint.
 *
 * Patterns follow `models/hf_names.hpp`: `{}` is the layer index, `|` separates alternatives,
 * a leading `^` puts a name outside `base`. Layer roles are relative to `layer`; the rest to
 * `base`. An empty pattern: the family has no such tensor.
 */
struct decoder_names {
    std::string_view base;                 ///< base-model prefix, accepted with or without
    std::string_view embed_tokens;         ///< `[vocab, hidden]`
    std::string_view embed_positions = {}; ///< learned positions `[max_positions, hidden]`
    std::string_view embed_norm = {};      ///< norm after the embeddings (BLOOM)
    std::string_view layer;                ///< prefix of layer `{}`
    std::string_view norm1;                ///< before attention (or after it, post-norm)
    std::string_view norm2 = {};           ///< before the feed-forward; unused with one shared norm
    std::string_view q = {}, k = {}, v = {};        ///< separate projections
    std::string_view qkv = {};                      ///< fused projection
    std::string_view out;                           ///< attention output projection
    std::string_view q_norm = {}, k_norm = {};      ///< per-head q/k norms
    std::string_view up = {}, gate = {}, down = {}; ///< dense feed-forward
    std::string_view router = {};                   ///< mixture of experts: the router (`gate`)
    std::string_view experts = {};                  ///< prefix of the stacked experts (HF v5)
    /// One expert's projections in older checkpoints, `{e}` for the expert; stacked at load.
    std::string_view expert_gate = {}, expert_up = {}, expert_down = {};
    std::string_view relative_bias = {}; ///< T5 bucket table, in the first layer
    std::string_view final_norm;
    std::string_view lm_head = "^lm_head";
    std::string_view score = "^score";
    std::string_view layer_ignored = {}; ///< buffers a layer may carry (space-separated)
    std::string_view ignored = {};       ///< buffers outside the layers (space-separated)
};

/**
 * @brief The slots of a decoder family and their defaults: a pre-LayerNorm decoder with
 *        separate bias-free projections, no positional role, a dense feed-forward and a tied
 *        LM head. A family derives from it and overrides what differs; a config member of the
 *        same name overrides a slot again.
 */
struct decoder_spec {
    // Embeddings.
    static constexpr position_embedding positions = position_embedding::none;
    static constexpr bool scale_embeddings = false; ///< `x *= sqrt(hidden)` (CTRL)
    static constexpr bool embedding_norm = false;   ///< BLOOM's `word_embeddings_layernorm`
    // Norms and wiring.
    static constexpr norm_kind norm = norm_kind::layer_norm;
    static constexpr norm_placement placement = norm_placement::pre;
    static constexpr bool shared_norm = false; ///< parallel with one norm (GPT-J, Falcon, Cohere)
    // Attention.
    static constexpr qkv_layout qkv = qkv_layout::separate;
    static constexpr weight_layout weights = weight_layout::out_in; ///< GPT-2's Conv1D: in_out
    static constexpr bool qkv_bias = false;
    static constexpr bool out_bias = false;
    static constexpr bool qk_norm = false; ///< per-head RMS norm of q and k (Qwen3)
    static constexpr attention_position position = attention_position::none;
    // Feed-forward.
    static constexpr ffn_kind ffn = ffn_kind::dense;
    static constexpr bool ffn_bias = false;
    static constexpr bool mixture_of_experts = false; ///< experts in every `moe_every`-th layer
    // Head.
    static constexpr bool tie_word_embeddings = true;
    static constexpr bool head_bias = false; ///< GPT-J, CTRL
};

namespace detail {

/// The resolved slots and values of a decoder.
template <class C, class S>
struct decoder_traits {
    CTT_SPEC_SLOT(positions);
    CTT_SPEC_SLOT(scale_embeddings);
    CTT_SPEC_SLOT(embedding_norm);
    CTT_SPEC_SLOT(norm);
    CTT_SPEC_SLOT(placement);
    CTT_SPEC_SLOT(shared_norm);
    CTT_SPEC_SLOT(qkv);
    CTT_SPEC_SLOT(weights);
    CTT_SPEC_SLOT(qkv_bias);
    CTT_SPEC_SLOT(out_bias);
    CTT_SPEC_SLOT(qk_norm);
    CTT_SPEC_SLOT(position);
    CTT_SPEC_SLOT(ffn);
    CTT_SPEC_SLOT(ffn_bias);
    CTT_SPEC_SLOT(mixture_of_experts);
    CTT_SPEC_SLOT(tie_word_embeddings);
    CTT_SPEC_SLOT(head_bias);
    CTT_CONFIG_VALUE(num_kv_heads, C::num_heads);
    CTT_CONFIG_VALUE(head_dim, C::hidden_size / C::num_heads);
    CTT_CONFIG_VALUE(rotary_dim, head_dim);
    CTT_CONFIG_VALUE(rope_theta, 10000.0);
    CTT_CONFIG_VALUE(attention_scale, 0.0f); ///< 0: `1/sqrt(head_dim)`
    CTT_CONFIG_VALUE(logit_scale, 1.0f);
    CTT_CONFIG_VALUE(num_experts, index_t{1});
    CTT_CONFIG_VALUE(experts_per_token, index_t{1});
    CTT_CONFIG_VALUE(moe_intermediate_size, C::intermediate_size);
    CTT_CONFIG_VALUE(moe_every, index_t{1});
    CTT_CONFIG_VALUE(norm_topk_prob, true);
    CTT_CONFIG_VALUE(num_buckets, index_t{32});
    CTT_CONFIG_VALUE(max_distance, index_t{128});
};

} // namespace detail

/// What a decoder configuration provides at least (the generated configs use these names).
template <class C>
concept causal_lm_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;
    { C::hidden_size } -> std::convertible_to<index_t>;
    { C::num_heads } -> std::convertible_to<index_t>;
    { C::intermediate_size } -> std::convertible_to<index_t>;
    { C::num_layers } -> std::convertible_to<index_t>;
    { C::max_positions } -> std::convertible_to<index_t>; ///< 0: no bound (ALiBi, T5 buckets)
    { C::hidden_act } -> std::convertible_to<activation>;
    { C::norm_eps } -> std::convertible_to<float>;
};

/**
 * @brief A decoder-only language model of family `Spec` configured by `C`.
 *
 * With `C::head == causal_lm_head::sequence_score` it carries a score head instead of the LM
 * head (HF `*ForSequenceClassification`: `num_labels` scores at the last token that is not
 * `pad_token_id`).
 */
template <causal_lm_config C, class Spec>
class causal_lm {
    using traits = detail::decoder_traits<C, Spec>;

public:
    using config = C;
    using spec = Spec;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t heads = C::num_heads;
    static constexpr index_t kv_heads = traits::num_kv_heads;
    static constexpr index_t head_dim = traits::head_dim;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t vocab = C::vocab_size;
    static constexpr index_t num_layers = C::num_layers;
    static constexpr index_t max_positions = C::max_positions;
    static constexpr causal_lm_head head = detail::head_of<C>();
    static constexpr index_t num_labels = detail::num_labels_of<C>();
    static constexpr index_t q_width = heads * head_dim;
    static constexpr index_t kv_width = kv_heads * head_dim;
    static constexpr bool has_experts = traits::mixture_of_experts;
    /// How `load_parameters` stores the projections (`C::weight_storage`, default `f32`).
    static constexpr weight_type weight_storage = detail::config_weights<C>();
    /// Fused per-group QKV rows are reordered in `finish_loading`, before packing.
    static constexpr bool transforms_weights_at_load = traits::qkv == qkv_layout::fused_grouped;
    static_assert(heads % kv_heads == 0, CTT_MSG_ATTENTION_GQA);
    static_assert(traits::positions == position_embedding::none || max_positions > 0,
                  "causal_lm: position tables need max_position_embeddings");

    using norm_type = detail::norm_block_t<traits::norm, hidden>;
    using projection_type =
        std::conditional_t<traits::qkv == qkv_layout::separate,
                           separate_qkv<hidden, q_width, kv_width, traits::qkv_bias>,
                           fused_qkv<hidden, q_width, kv_width, traits::qkv_bias, traits::weights>>;
    using attention_type = attention_block<hidden, heads, kv_heads, head_dim, projection_type,
                                           traits::out_bias, traits::weights>;
    using dense_ffn_type = std::conditional_t<
        traits::ffn == ffn_kind::gated,
        gated_feed_forward<hidden, inner, C::hidden_act, traits::ffn_bias>,
        feed_forward<hidden, inner, C::hidden_act, traits::ffn_bias, traits::weights>>;
    using experts_type =
        std::conditional_t<has_experts,
                           mixture_of_experts<hidden, traits::moe_intermediate_size,
                                              traits::num_experts, C::hidden_act>,
                           detail::absent>;
    using residual_type = residual_layer<traits::placement, norm_type, traits::shared_norm>;
    using head_norm_type =
        std::conditional_t<traits::qk_norm, head_rms_norm<head_dim>, detail::absent>;
    /// How sessions hold keys and values (`C::kv_cache_storage`, default `f32`).
    static constexpr weight_type kv_cache_storage = detail::config_kv_cache<C>();
    using session_type = layered_kv_cache<num_layers, kv_heads, head_dim, kv_cache_storage>;

    /// One layer: attention, its norms, and the index of its feed-forward (dense or experts).
    struct layer {
        attention_type attention;
        residual_type norms;
        [[no_unique_address]] head_norm_type q_norm;
        [[no_unique_address]] head_norm_type k_norm;
        bool uses_experts = false;
        index_t ffn_index = 0;
    };

    causal_lm()
        : layers_(num_layers)
        , rotary_(make_rotary())
        , alibi_(make_alibi()) {
        static_assert(traits::ffn == ffn_kind::gated || !has_experts,
                      "causal_lm: experts are gated feed-forwards");
        index_t dense = 0;
        index_t moe = 0;
        for (index_t i = 0; i < num_layers; ++i) {
            auto& l = layers_[i];
            set_eps(l.norms.norm1);
            if constexpr (residual_type::has_second_norm) {
                set_eps(l.norms.norm2);
            }
            if constexpr (traits::qk_norm) {
                l.q_norm.eps = C::norm_eps;
                l.k_norm.eps = C::norm_eps;
            }
            l.uses_experts = has_experts && (i + 1) % traits::moe_every == 0;
            l.ffn_index = l.uses_experts ? moe++ : dense++;
        }
        dense_.resize(dense);
        if constexpr (has_experts) {
            experts_.resize(moe);
            for (auto& e : experts_) {
                e.routing = {traits::experts_per_token, router_order::softmax_then_top_k,
                             traits::norm_topk_prob};
            }
        }
        set_eps(final_norm_);
        if constexpr (traits::embedding_norm) {
            set_eps(embedding_norm_);
        }
        if constexpr (traits::positions == position_embedding::sinusoidal) {
            sinusoidal_table_f32(position_embeddings_.view()); // CTRL's table, in float32
        } else if constexpr (traits::positions == position_embedding::sinusoidal_interleaved) {
            sinusoidal_table(position_embeddings_.view(), sinusoid_layout::interleaved);
        }
    }

    /// Empty KV caches for up to `capacity` tokens (at most `max_positions` when bounded).
    [[nodiscard]] session_type new_session(index_t capacity) const {
        if constexpr (max_positions > 0) {
            detail::check_at_most("causal_lm: session capacity and max_position_embeddings differ",
                                  capacity, max_positions);
        }
        session_type session(capacity);
        session.set_owner(this);
        return session;
    }

    /**
     * @brief Appends `tokens` to the sequence of `session` and writes the logits of its last
     *        `logits.rows()` positions (`[tokens.size(), vocab]` for all of them; one row is all
     *        generation needs, and spares the head's product for the rest of a prompt). With
     *        `hidden_states`, also the embeddings and each layer's output as HF reports them
     *        (the last after the final norm).
     */
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits,
              std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states = nullptr) const
        requires(head == causal_lm_head::lm) {
        tensor<float, shape<dyn, hidden>> x(tokens.size());
        embedding_lookup(token_embeddings_.view(), tokens, x.view());
        run(session, x, hidden_states);
        lm_logits(x, logits);
    }

    /**
     * @brief As `step`, from input embeddings instead of token ids (`inputs_embeds`): PaLM-E
     *        style prefixes of image or sensor embeddings go through here. Positions, scale and
     *        embedding norm apply as to looked-up tokens.
     */
    void step_embeddings(session_type& session, tensor_view<const float, shape<dyn, hidden>> input,
                         tensor_view<float, shape<dyn, vocab>> logits) const
        requires(head == causal_lm_head::lm) {
        tensor<float, shape<dyn, hidden>> x(input.rows());
        copy(input, x.view());
        run(session, x, nullptr);
        lm_logits(x, logits);
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
            tensor<float, shape<dyn, hidden>> x(ids.cols());
            embedding_lookup(token_embeddings_.view(), sequence(ids, b), x.view());
            run(session, x, nullptr);
            const index_t t = last_non_pad_position(sequence(ids, b), C::pad_token_id);
            copy(tensor_view<const float, shape<hidden>>(x[t]), last[b]);
        }
        tensor<float, shape<dyn, num_labels>> out(batch);
        score_.score.forward(tensor_view<const float, shape<dyn, hidden>>(last.view()), out.view());
        return out;
    }

    /// Every parameter under the HF names of the family's table (`Spec::names`).
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        constexpr decoder_names n = Spec::names;
        hf_binder<Visitor> b(v, prefix, n.base);
        b.tensor("", n.embed_tokens, token_embeddings_.view(), 0, "weight");
        if constexpr (traits::positions == position_embedding::learned) {
            b.tensor("", n.embed_positions, position_embeddings_.view(), 0, "weight");
        }
        if constexpr (traits::embedding_norm) {
            b.module("", n.embed_norm, embedding_norm_);
        }
        for (index_t i = 0; i < num_layers; ++i) {
            auto& l = layers_[i];
            const std::string_view s = n.layer;
            b.module(s, n.norm1, l.norms.norm1, i);
            if constexpr (residual_type::has_second_norm) {
                b.module(s, n.norm2, l.norms.norm2, i);
            }
            if constexpr (traits::qkv == qkv_layout::separate) {
                b.module(s, n.q, l.attention.projection.q, i);
                b.module(s, n.k, l.attention.projection.k, i);
                b.module(s, n.v, l.attention.projection.v, i);
            } else {
                b.module(s, n.qkv, l.attention.projection.qkv, i);
            }
            b.module(s, n.out, l.attention.out, i);
            if constexpr (traits::qk_norm) {
                b.module(s, n.q_norm, l.q_norm, i);
                b.module(s, n.k_norm, l.k_norm, i);
            }
            if (l.uses_experts) {
                if constexpr (has_experts) {
                    auto& e = experts_[l.ffn_index];
                    b.module(s, n.router, e.router, i);
                    visit_experts(b, v, s, n, e, i);
                }
            } else {
                auto& f = dense_[l.ffn_index];
                if constexpr (traits::ffn == ffn_kind::gated) {
                    b.module(s, n.gate, f.gate, i);
                }
                b.module(s, n.up, f.up, i);
                b.module(s, n.down, f.down, i);
            }
            b.ignore(s, n.layer_ignored, i);
        }
        if constexpr (traits::position == attention_position::t5_buckets) {
            b.tensor("", n.relative_bias, relative_bias_weight_.view(), 0, "weight");
        }
        b.module("", n.final_norm, final_norm_);
        if constexpr (head == causal_lm_head::lm) {
            if constexpr (traits::tie_word_embeddings) {
                b.ignore("", std::string(n.lm_head) + ".weight");
                if constexpr (traits::head_bias) {
                    b.tensor("", n.lm_head, lm_bias_.view(), 0, "bias");
                }
            } else {
                b.module("", n.lm_head, lm_head_); // a linear layer: packed at load
            }
        } else {
            b.module("", n.score, score_.score);
        }
        b.ignore("", n.ignored);
    }

    /// The experts of layer `i`: stacked (HF v5), or one tensor per expert and projection
    /// (older checkpoints), read into the stacked tensors.
    template <class Binder, class Visitor>
    static void visit_experts(Binder& b, [[maybe_unused]] Visitor& v, std::string_view scope,
                              const decoder_names& n, experts_type& e, index_t i) {
        // Stacked unless the checkpoint is known to lack it (a visitor that cannot tell, such as
        // a counter, sees HF v5's names).
        bool stacked = true;
        if constexpr (detail::name_aware_visitor<Visitor>) {
            stacked =
                n.expert_gate.empty() || v.contains(b.resolve(scope, n.experts, i, "gate_up_proj"));
        }
        if (stacked) {
            b.tensor(scope, n.experts, e.gate_up.view(), i, "gate_up_proj");
            b.tensor(scope, n.experts, e.down.view(), i, "down_proj");
            return;
        }
        constexpr index_t F = experts_type::inner;
        for (index_t x = 0; x < experts_type::experts; ++x) {
            const auto pattern = [x](std::string_view p) { return detail::expand_expert(p, x); };
            auto gate_up = e.gate_up.view()[x];
            b.tensor(scope, pattern(n.expert_gate), gate_up.rows(0, F), i, "weight");
            b.tensor(scope, pattern(n.expert_up), gate_up.rows(F, F), i, "weight");
            b.tensor(scope, pattern(n.expert_down), e.down.view()[x], i, "weight");
        }
    }

    /// Load-time transforms: fused per-group QKV rows to `[q | k | v]`, the T5 bias table.
    void finish_loading() {
        if constexpr (traits::qkv == qkv_layout::fused_grouped) {
            static_assert(traits::weights == weight_layout::out_in);
            const auto source = [](index_t r) {
                return detail::grouped_qkv_source_row(r, heads, kv_heads, head_dim);
            };
            for (auto& l : layers_) {
                auto& qkv = l.attention.projection.qkv;
                detail::permute_rows(qkv.weight.data(), q_width + 2 * kv_width, hidden, source);
                if constexpr (traits::qkv_bias) {
                    detail::permute_rows(qkv.bias.data(), q_width + 2 * kv_width, 1, source);
                }
            }
        }
        if constexpr (traits::position == attention_position::t5_buckets) {
            relative_bias_.emplace(relative_bias_weight_.view(), false, traits::max_distance);
        }
    }

    /// The input token embeddings `[vocab, hidden]` (what `step` looks tokens up in).
    [[nodiscard]] tensor_view<const float, shape<vocab, hidden>> token_embeddings() const noexcept {
        return token_embeddings_.view();
    }

    /// The layers (attention, norms, whether each uses experts), for inspection.
    [[nodiscard]] const std::vector<layer>& layers() const noexcept { return layers_; }

private:
    using rows = tensor<float, shape<dyn, hidden>>;
    using const_rows = tensor_view<const float, shape<dyn, hidden>>;
    using rotary_type =
        std::conditional_t<traits::position == attention_position::rotary_interleaved,
                           rotary_interleaved, rotary_half_split>;
    static constexpr bool has_rotary = traits::position == attention_position::rotary_half_split ||
                                       traits::position == attention_position::rotary_interleaved;

    template <class N>
    static void set_eps(N& norm) {
        norm.eps = C::norm_eps;
    }
    static std::optional<rotary_type> make_rotary() {
        if constexpr (has_rotary) {
            static_assert(max_positions > 0, "causal_lm: rotary needs max_position_embeddings");
            return rotary_type(traits::rotary_dim, max_positions, traits::rope_theta);
        } else {
            return std::nullopt;
        }
    }
    static std::optional<alibi_bias> make_alibi() {
        if constexpr (traits::position == attention_position::alibi) {
            return alibi_bias(heads);
        } else {
            return std::nullopt;
        }
    }

    /// Positions, scale and norm of the embedding stage, then every layer and the final norm.
    void run(session_type& session, rows& x,
             std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states) const {
        const index_t n = x.rows();
        const index_t past = session.length();
        if (n == 0) {
            throw value_error("causal_lm: the input is empty (a step needs at least one token)");
        }
        if (session.owner() != nullptr && session.owner() != this) {
            throw value_error("causal_lm: the session was made by another model (each model "
                              "runs only the sessions of its own new_session)");
        }
        if constexpr (max_positions > 0) {
            detail::check_at_most("causal_lm: sequence length and max_position_embeddings differ",
                                  past + n, max_positions);
        }
        if constexpr (traits::scale_embeddings) {
            scale(x.view(), static_cast<float>(std::sqrt(static_cast<double>(hidden))));
        }
        if constexpr (traits::positions != position_embedding::none) {
            embedding_lookup_add(position_embeddings_.view(), offset_position_ids(n, past),
                                 x.view());
        }
        if constexpr (traits::embedding_norm) {
            embedding_norm_.forward(const_rows(x.view()), x.view());
        }
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
        rows scratch(n);
        rows scratch2(residual_type::needs_second_scratch ? n : 0);
        typename attention_type::workspace ws(n);
        const index_t dense_rows = traits::ffn == ffn_kind::gated ? 2 * n : n;
        tensor<float, shape<dyn, inner>> ffn_scratch(dense_.empty() ? 0 : dense_rows);
        [[maybe_unused]] auto moe_ws = make_moe_workspace(n);
        for (index_t i = 0; i < num_layers; ++i) {
            const auto& l = layers_[i];
            auto& cache = session[i];
            l.norms.forward(
                x.view(), scratch.view(),
                residual_type::needs_second_scratch ? scratch2.view() : scratch.view(),
                [&](auto in, auto y, bool acc) { attend(i, l, cache, in, y, acc, ws); },
                [&](auto in, auto y, bool acc) {
                    if constexpr (has_experts) {
                        if (l.uses_experts) {
                            experts_[l.ffn_index].forward(in, y, acc, moe_ws);
                            return;
                        }
                    }
                    dense_[l.ffn_index].forward(in, y, acc, ffn_scratch.view());
                });
            if (hidden_states != nullptr && i + 1 < num_layers) {
                hidden_states->push_back(x);
            }
        }
        final_norm_.forward(const_rows(x.view()), x.view());
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
    }

    auto make_moe_workspace(index_t n) const {
        if constexpr (has_experts) {
            return typename experts_type::workspace(n);
        } else {
            return detail::absent{};
        }
    }

    /// The mask of layer `i`: the spec's `layer_mask`, else the config's per-layer windows or
    /// sliding window, else causal.
    static auto mask_of_layer([[maybe_unused]] index_t i) {
        if constexpr (requires { Spec::template layer_mask<C>(i); }) {
            return Spec::template layer_mask<C>(i);
        } else if constexpr (requires { C::layer_windows[0]; }) {
            const index_t w = C::layer_windows[i];
            return sliding_window_mask{w == 0 ? std::numeric_limits<index_t>::max() / 2 : w};
        } else if constexpr (requires { C::sliding_window; }) {
            return sliding_window_mask{C::sliding_window};
        } else {
            return causal_mask{};
        }
    }

    template <class In, class Out>
    void attend(index_t i, const layer& l, typename session_type::layer_type& cache, In in, Out y,
                bool acc, typename attention_type::workspace& ws) const {
        attention_params params;
        if constexpr (traits::attention_scale != 0.0f) {
            params = params.with_scale(traits::attention_scale);
        }
        const auto mask = mask_of_layer(i);
        const auto run_with = [&](const auto& bias, const auto& q_transform,
                                  const auto& k_transform) {
            l.attention.forward_cached(in, y, acc, cache, mask, bias, q_transform, k_transform,
                                       params, ws);
        };
        if constexpr (traits::position == attention_position::alibi) {
            run_with(*alibi_, no_transform{}, no_transform{});
        } else if constexpr (traits::position == attention_position::t5_buckets) {
            if (!relative_bias_) {
                throw value_error("causal_lm: the relative bias table is built by "
                                  "load_parameters (finish_loading was not called)");
            }
            run_with(*relative_bias_, no_transform{}, no_transform{});
        } else if constexpr (traits::qk_norm && has_rotary) {
            using chain = chained_transform<head_norm_type, rotary_type>;
            run_with(no_bias{}, chain{&l.q_norm, &*rotary_}, chain{&l.k_norm, &*rotary_});
        } else if constexpr (traits::qk_norm) {
            run_with(no_bias{}, l.q_norm, l.k_norm);
        } else if constexpr (has_rotary) {
            run_with(no_bias{}, *rotary_, *rotary_);
        } else {
            run_with(no_bias{}, no_transform{}, no_transform{});
        }
    }

    /// The logits of the last `logits.rows()` positions of `x` (all of them, or the last one
    /// when generation needs no more).
    void lm_logits(const rows& all, tensor_view<float, shape<dyn, vocab>> logits) const {
        detail::check_at_most("causal_lm: logits rows and tokens differ", logits.rows(),
                              all.rows());
        const auto x = all.view().rows(all.rows() - logits.rows(), logits.rows());
        if constexpr (traits::tie_word_embeddings) {
            // The input table is the head: read in its lookup layout.
            const gemm_options options{traits::logit_scale, false};
            if constexpr (traits::head_bias) {
                matmul_bt(const_rows(x), token_embeddings_.view(), lm_bias_.view(), logits,
                          options);
            } else {
                matmul_bt(const_rows(x), token_embeddings_.view(), logits, options);
            }
        } else {
            lm_head_.forward(const_rows(x), logits);
            if constexpr (traits::logit_scale != 1.0f) {
                scale(logits, traits::logit_scale); // HF's order: the product, then the scale
            }
        }
    }

    static constexpr index_t position_rows =
        traits::positions == position_embedding::none ? 0 : max_positions;

    tensor<float, shape<vocab, hidden>> token_embeddings_;
    [[no_unique_address]] std::conditional_t<
        position_rows != 0, tensor<float, shape<position_rows, hidden>>, detail::absent>
        position_embeddings_;
    [[no_unique_address]] std::conditional_t<traits::embedding_norm, norm_type, detail::absent>
        embedding_norm_;
    std::vector<layer> layers_;
    std::vector<dense_ffn_type> dense_;
    [[no_unique_address]] std::conditional_t<has_experts, std::vector<experts_type>, detail::absent>
        experts_;
    norm_type final_norm_;
    [[no_unique_address]] std::conditional_t<
        head == causal_lm_head::lm && !traits::tie_word_embeddings,
        linear<hidden, vocab, traits::head_bias>, detail::absent>
        lm_head_;
    [[no_unique_address]] std::conditional_t<traits::head_bias && traits::tie_word_embeddings,
                                             tensor<float, shape<vocab>>, detail::absent>
        lm_bias_;
    [[no_unique_address]] std::conditional_t<head == causal_lm_head::sequence_score,
                                             sequence_score_head<hidden, num_labels>,
                                             detail::absent>
        score_;
    std::optional<rotary_type> rotary_;
    std::optional<alibi_bias> alibi_;
    [[no_unique_address]] std::conditional_t<traits::position == attention_position::t5_buckets,
                                             tensor<float, shape<traits::num_buckets, heads>>,
                                             detail::absent>
        relative_bias_weight_;
    std::optional<t5_relative_bias> relative_bias_;
};

} // namespace ctt
