#pragma once
/**
 * @file
 * @brief `encoder_decoder<Config, Spec>`: the encoder-decoders of the review (T5, mT5, BART) as
 *        one template, the third part of the composition design after `causal_lm` and
 *        `encoder_model`.
 *
 * A layer is a *list of sub-layers*, not hand wiring: the spec names the kinds in order
 * (`encoder_layer = {self_attention, feed_forward}`, `decoder_layer = {self_attention,
 * cross_attention, feed_forward}`), and each becomes a `residual_sublayer` (its norm, its
 * block, its residual) placed pre- or post-norm by the `placement` slot. The same sub-layer
 * runner drives the encoder over padded batches and the decoder through its KV caches.
 *
 * The spec's other slots, each overridable by a config member of the same name:
 * - embeddings: the token table both stacks share, `scale_embeddings` (`x *= sqrt(hidden)`,
 *   BART's `scale_embedding`), learned positions offset by `position_offset` (BART: 2), an
 *   embedding norm (BART's `layernorm_embedding`);
 * - attention: biases on every projection or none, the role of position (T5's bucketed bias,
 *   one table per stack shared by its layers, built once at load), `attention_scale`;
 * - feed-forward: dense or gated, with or without biases;
 * - the stacks' final norms; the head: tied to the embeddings or not, T5's `d_model^-0.5`
 *   rescaling (`scale_decoder_outputs`), BART's `final_logits_bias`.
 *
 * The names of a family's checkpoint are data, a `seq2seq_names` table resolved by
 * `hf_binder` (`models/hf_names.hpp`).
 */

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/kernels/elementwise.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/models/hf_names.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/models/spec_slots.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/t5_bias.hpp"

namespace ctt {

/// The kinds of sub-layer a layer lists.
enum class sublayer {
    self_attention,  ///< bidirectional over the encoder's batch; causal through the decoder's cache
    cross_attention, ///< queries from the decoder, keys and values from the encoder's output
    feed_forward,
};

/// A sub-layer: its norm and its block, summed into the residual stream.
template <sublayer Kind, class Norm, class Block>
struct residual_sublayer {
    static constexpr sublayer kind = Kind;
    Norm norm;
    Block block;
};

/// Where one sub-layer's tensors live, relative to its layer's prefix.
struct sublayer_names {
    std::string_view norm;                             ///< the sub-layer's norm
    std::string_view scope = {};                       ///< the block's prefix
    std::string_view q = {}, k = {}, v = {}, out = {}; ///< attention, after `scope`
    std::string_view up = {}, gate = {}, down = {};    ///< feed-forward, after `scope`
};

/// Where one stack's tensors live: its layers (`{}` for the index) and the rest.
template <std::size_t Sublayers>
struct stack_names {
    std::string_view layer;                          ///< prefix of layer `{}`
    std::array<sublayer_names, Sublayers> sublayers; ///< in the order of the spec's list
    std::string_view positions = {};                 ///< learned positions (`weight` under it)
    std::string_view embedding_norm = {};
    std::string_view relative_bias = {}; ///< T5's bucket table (`weight` under it)
    std::string_view final_norm = {};
};

/// Where an encoder-decoder's tensors live in a Hugging Face checkpoint.
template <std::size_t EncoderSublayers = 2, std::size_t DecoderSublayers = 3>
struct seq2seq_names {
    std::string_view base;   ///< base-model prefix, accepted with or without
    std::string_view shared; ///< the token embeddings both stacks read (`weight` under it)
    stack_names<EncoderSublayers> encoder;
    stack_names<DecoderSublayers> decoder;
    std::string_view lm_head = "^lm_head";
    std::string_view logits_bias = {}; ///< `[1, vocab]` added to the logits (BART)
    std::string_view ignored = {};     ///< tied copies and buffers (space-separated)
};

/**
 * @brief The slots of an encoder-decoder family and their defaults: pre-LayerNorm stacks of
 *        (self-attention, feed-forward) and (self-attention, cross-attention, feed-forward)
 *        layers without biases or positions, and a tied head.
 */
struct seq2seq_spec {
    static constexpr std::array encoder_layer{sublayer::self_attention, sublayer::feed_forward};
    static constexpr std::array decoder_layer{sublayer::self_attention, sublayer::cross_attention,
                                              sublayer::feed_forward};
    // Embeddings.
    static constexpr position_embedding positions = position_embedding::none;
    static constexpr index_t position_offset = 0; ///< BART numbers positions from 2
    static constexpr bool scale_embeddings = false;
    static constexpr bool embedding_norm = false;
    // Layers.
    static constexpr norm_kind norm = norm_kind::layer_norm;
    static constexpr norm_placement placement = norm_placement::pre;
    static constexpr bool attention_bias = false; ///< on every projection of every attention
    static constexpr attention_position position = attention_position::none;
    static constexpr ffn_kind ffn = ffn_kind::dense;
    static constexpr bool ffn_bias = false;
    static constexpr bool final_norm = false; ///< after each stack
    // Head.
    static constexpr bool tie_word_embeddings = true;
    static constexpr bool scale_decoder_outputs = false; ///< `x *= hidden^-0.5` before the head
    static constexpr bool logits_bias = false;
};

/// What an encoder-decoder configuration provides at least.
template <class C>
concept encoder_decoder_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;
    { C::hidden_size } -> std::convertible_to<index_t>;
    { C::num_heads } -> std::convertible_to<index_t>;         ///< the encoder's
    { C::intermediate_size } -> std::convertible_to<index_t>; ///< the encoder's
    { C::encoder_layers } -> std::convertible_to<index_t>;
    { C::decoder_layers } -> std::convertible_to<index_t>;
    { C::hidden_act } -> std::convertible_to<activation>;
    { C::norm_eps } -> std::convertible_to<float>;
    { C::decoder_start_token_id } -> std::convertible_to<int>;
};

namespace detail {

/// The resolved slots and values of an encoder-decoder.
template <class C, class S>
struct seq2seq_traits {
    CTT_SPEC_SLOT(encoder_layer);
    CTT_SPEC_SLOT(decoder_layer);
    CTT_SPEC_SLOT(positions);
    CTT_SPEC_SLOT(position_offset);
    CTT_SPEC_SLOT(scale_embeddings);
    CTT_SPEC_SLOT(embedding_norm);
    CTT_SPEC_SLOT(norm);
    CTT_SPEC_SLOT(placement);
    CTT_SPEC_SLOT(attention_bias);
    CTT_SPEC_SLOT(position);
    CTT_SPEC_SLOT(ffn);
    CTT_SPEC_SLOT(ffn_bias);
    CTT_SPEC_SLOT(final_norm);
    CTT_SPEC_SLOT(tie_word_embeddings);
    CTT_SPEC_SLOT(scale_decoder_outputs);
    CTT_SPEC_SLOT(logits_bias);
    CTT_CONFIG_VALUE(head_dim, C::hidden_size / C::num_heads);
    CTT_CONFIG_VALUE(decoder_heads, C::num_heads);
    CTT_CONFIG_VALUE(decoder_intermediate_size, C::intermediate_size);
    CTT_CONFIG_VALUE(max_positions, index_t{0});
    CTT_CONFIG_VALUE(attention_scale, 0.0f); ///< 0: `1/sqrt(head_dim)`
    CTT_CONFIG_VALUE(num_buckets, index_t{32});
    CTT_CONFIG_VALUE(max_distance, index_t{128});
    /// The decoder's head width: the config's `head_dim` for both stacks (T5's `d_kv`), else
    /// the hidden size over the decoder's heads (BART).
    static constexpr index_t decoder_head_dim = [] {
        if constexpr (requires { C::head_dim; }) {
            return static_cast<index_t>(C::head_dim);
        } else {
            return static_cast<index_t>(C::hidden_size / decoder_heads);
        }
    }();
};

/// `std::tuple<residual_sublayer<Kinds[i], Norm, Block<Kinds[i]>>...>`.
template <class Norm, template <sublayer> class Block, auto Kinds,
          class = std::make_index_sequence<Kinds.size()>>
struct sublayer_tuple;
template <class Norm, template <sublayer> class Block, auto Kinds, std::size_t... I>
struct sublayer_tuple<Norm, Block, Kinds, std::index_sequence<I...>> {
    using type = std::tuple<residual_sublayer<Kinds[I], Norm, Block<Kinds[I]>>...>;
};

template <std::size_t N>
[[nodiscard]] constexpr index_t count_sublayers(const std::array<sublayer, N>& kinds,
                                                sublayer kind) noexcept {
    index_t n = 0;
    for (const auto k : kinds) {
        n += k == kind ? 1 : 0;
    }
    return n;
}

} // namespace detail

/**
 * @brief An encoder-decoder transformer of family `Spec` configured by `C`.
 *
 * `encode` runs the encoder over a padded batch; `new_session` builds one decoding session
 * from one row of the encoding (the cross-attention keys and values, projected once); `step`
 * appends decoder tokens and writes their logits. Encoder and decoder may differ in heads,
 * feed-forward width and layer count (`decoder_heads`, `decoder_intermediate_size`,
 * `decoder_layers`).
 */
template <encoder_decoder_config C, class Spec>
class encoder_decoder {
    using traits = detail::seq2seq_traits<C, Spec>;

public:
    using config = C;
    using spec = Spec;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t vocab = C::vocab_size;
    static constexpr index_t encoder_layers = C::encoder_layers;
    static constexpr index_t decoder_layers = C::decoder_layers;
    static constexpr index_t heads = C::num_heads;
    static constexpr index_t head_dim = traits::head_dim;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t decoder_heads = traits::decoder_heads;
    static constexpr index_t decoder_head_dim = traits::decoder_head_dim;
    static constexpr index_t decoder_inner = traits::decoder_intermediate_size;
    static constexpr index_t max_positions = traits::max_positions;
    static constexpr bool scale_decoder_outputs = traits::scale_decoder_outputs;
    static constexpr bool has_relative_bias = traits::position == attention_position::t5_buckets;
    static constexpr bool has_learned_positions = traits::positions == position_embedding::learned;
    /// How `load_parameters` stores the projections (`C::weight_storage`, default `f32`).
    static constexpr weight_type weight_storage = detail::config_weights<C>();
    /// How sessions hold the decoder's keys and values, self and cross (`C::kv_cache_storage`,
    /// default `f32`).
    static constexpr weight_type kv_cache_storage = detail::config_kv_cache<C>();

    static_assert(traits::placement == norm_placement::pre ||
                      traits::placement == norm_placement::post,
                  "encoder_decoder: sub-layers are pre-norm or post-norm");
    static_assert(traits::position == attention_position::none || has_relative_bias,
                  "encoder_decoder: the role of position is none or T5's bucketed bias");
    static_assert(traits::positions == position_embedding::none || has_learned_positions,
                  "encoder_decoder: input positions are none or a learned table");
    static_assert(!has_learned_positions || max_positions > 0,
                  "encoder_decoder: learned positions need max_position_embeddings");
    static_assert(detail::count_sublayers(traits::encoder_layer, sublayer::cross_attention) == 0,
                  "encoder_decoder: an encoder layer has no cross-attention");

    using norm_type = detail::norm_block_t<traits::norm, hidden>;
    template <index_t Heads, index_t HeadDim>
    using self_attention_type = attention_block<
        hidden, Heads, Heads, HeadDim,
        separate_qkv<hidden, Heads * HeadDim, Heads * HeadDim, traits::attention_bias>,
        traits::attention_bias>;
    using cross_attention_type =
        cross_attention_block<hidden, decoder_heads, decoder_head_dim, traits::attention_bias>;
    template <index_t Inner>
    using ffn_type =
        std::conditional_t<traits::ffn == ffn_kind::gated,
                           gated_feed_forward<hidden, Inner, C::hidden_act, traits::ffn_bias>,
                           feed_forward<hidden, Inner, C::hidden_act, traits::ffn_bias>>;

    template <sublayer K>
    using encoder_block = std::conditional_t<K == sublayer::self_attention,
                                             self_attention_type<heads, head_dim>, ffn_type<inner>>;
    template <sublayer K>
    using decoder_block =
        std::conditional_t<K == sublayer::self_attention,
                           self_attention_type<decoder_heads, decoder_head_dim>,
                           std::conditional_t<K == sublayer::cross_attention, cross_attention_type,
                                              ffn_type<decoder_inner>>>;

    /// One layer of each stack: a tuple of `residual_sublayer`s in the spec's order.
    using encoder_layer =
        typename detail::sublayer_tuple<norm_type, encoder_block, traits::encoder_layer>::type;
    using decoder_layer =
        typename detail::sublayer_tuple<norm_type, decoder_block, traits::decoder_layer>::type;

    static constexpr index_t decoder_self_per_layer =
        detail::count_sublayers(traits::decoder_layer, sublayer::self_attention);
    static constexpr index_t decoder_cross_per_layer =
        detail::count_sublayers(traits::decoder_layer, sublayer::cross_attention);

    /// The encoder's output for a batch: `[batch * length, hidden]`, and its padding.
    struct encoding {
        tensor<float, shape<dyn, hidden>> states;
        std::vector<tensor<float, shape<dyn, hidden>>> hidden_states; ///< when asked for
        std::vector<std::uint8_t> padding; ///< 1 = token, per batch row and position
        index_t batch = 0;
        index_t length = 0;
    };

    /// One sequence being decoded: self-attention caches and the encoder's keys and values.
    struct session_type {
        layered_kv_cache<decoder_layers * decoder_self_per_layer, decoder_heads, decoder_head_dim,
                         kv_cache_storage>
            self;
        std::vector<kv_cache<decoder_heads, decoder_head_dim, kv_cache_storage>> cross;
        std::vector<std::uint8_t> encoder_padding;
        [[nodiscard]] index_t length() const noexcept { return self.length(); }
    };

    encoder_decoder()
        : encoder_(encoder_layers)
        , decoder_(decoder_layers) {
        const auto set_layer_eps = [](auto& layer) {
            std::apply([](auto&... s) { ((s.norm.eps = C::norm_eps), ...); }, layer);
        };
        for (auto& l : encoder_) {
            set_layer_eps(l);
        }
        for (auto& l : decoder_) {
            set_layer_eps(l);
        }
        set_eps(encoder_stage_);
        set_eps(decoder_stage_);
    }

    /// Runs the encoder over `ids` (`[batch, length]`) with an optional `attention_mask`.
    [[nodiscard]] encoding encode(token_ids ids, const token_ids* attention_mask = nullptr,
                                  bool keep_hidden_states = false) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        const index_t n = batch * length;
        if (length == 0) {
            throw value_error("encoder_decoder: the encoder input is empty");
        }
        check_positions("encoder_decoder: encoder length and max_position_embeddings differ",
                        length);
        const padding_flags padding(attention_mask, batch, length);
        encoding out;
        out.batch = batch;
        out.length = length;
        out.padding.resize(n);
        for (index_t b = 0; b < batch; ++b) {
            for (index_t t = 0; t < length; ++t) {
                out.padding[b * length + t] = padding.is_token(b, t) ? 1 : 0;
            }
        }
        rows x(n);
        for (index_t b = 0; b < batch; ++b) {
            auto rows_b = x.view().rows(b * length, length);
            embedding_lookup(shared_.view(), sequence(ids, b), rows_b);
            embed(encoder_stage_, rows_b, 0);
        }
        if (keep_hidden_states) {
            out.hidden_states.push_back(x);
        }
        rows scratch(n);
        tensor<float, shape<dyn, inner>> ffn_scratch(ffn_rows(n));
        typename self_attention_type<heads, head_dim>::workspace ws(n);
        const auto params = attention_parameters();
        const auto mask_for = [&padding](index_t b) { return padding.mask(b); };
        for (index_t i = 0; i < encoder_layers; ++i) {
            run_layer(encoder_[i], x, scratch, [&](const auto& s, auto in, auto y) {
                using sub = std::remove_cvref_t<decltype(s)>;
                if constexpr (sub::kind == sublayer::self_attention) {
                    with_bias(encoder_bias_, [&](const auto& bias) {
                        s.block.forward(in, y, true, batch, length, mask_for, bias, no_transform{},
                                        no_transform{}, params, ws);
                    });
                } else {
                    s.block.forward(in, y, true, ffn_scratch.view());
                }
            });
            if (keep_hidden_states && i + 1 < encoder_layers) {
                out.hidden_states.push_back(x);
            }
        }
        finish_stack(encoder_stage_, x, keep_hidden_states ? &out.hidden_states : nullptr);
        out.states = std::move(x);
        return out;
    }

    /// A decoding session for batch row `b` of `enc`, for up to `capacity` decoder tokens.
    [[nodiscard]] session_type new_session(const encoding& enc, index_t b, index_t capacity) const {
        detail::check_at_most("encoder_decoder: batch row of the encoding", b + 1, enc.batch);
        check_positions("encoder_decoder: session capacity and max_position_embeddings differ",
                        capacity);
        session_type s{decltype(session_type::self)(capacity), {}, {}};
        const auto memory = const_rows(enc.states.view().rows(b * enc.length, enc.length));
        s.cross.reserve(decoder_layers * decoder_cross_per_layer);
        for (const auto& l : decoder_) {
            std::apply(
                [&](const auto&... sub) {
                    const auto prepare = [&](const auto& x) {
                        if constexpr (std::remove_cvref_t<decltype(x)>::kind ==
                                      sublayer::cross_attention) {
                            s.cross.emplace_back(enc.length);
                            x.block.prepare(memory, s.cross.back());
                        }
                    };
                    (prepare(sub), ...);
                },
                l);
        }
        s.encoder_padding.assign(enc.padding.begin() + b * enc.length,
                                 enc.padding.begin() + (b + 1) * enc.length);
        return s;
    }

    /**
     * @brief Appends decoder `tokens` to `session` and writes the logits of the last
     *        `logits.rows()` of them (`[tokens.size(), vocab]` for all). With `hidden_states`, also
     * the embeddings and each layer's output as HF reports them (the last after the final norm,
     * when there is one).
     */
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits,
              std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states = nullptr) const {
        const index_t n = tokens.size();
        const index_t past = session.length();
        detail::check_at_most("encoder_decoder: logits rows and tokens differ", logits.rows(), n);
        check_positions("encoder_decoder: decoder length and max_position_embeddings differ",
                        past + n);
        rows x(n);
        embedding_lookup(shared_.view(), tokens, x.view());
        embed(decoder_stage_, x.view(), past);
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
        const key_padding_mask encoder_mask(std::span<const std::uint8_t>(session.encoder_padding));
        const auto params = attention_parameters();
        rows normed(n);
        tensor<float, shape<dyn, decoder_inner>> ffn_scratch(ffn_rows(n));
        tensor<float, shape<dyn, cross_attention_type::q_width>> q_buffer(n);
        tensor<float, shape<dyn, cross_attention_type::q_width>> context(n);
        typename self_attention_type<decoder_heads, decoder_head_dim>::workspace ws(n);
        for (index_t i = 0; i < decoder_layers; ++i) {
            index_t self_index = i * decoder_self_per_layer;
            index_t cross_index = i * decoder_cross_per_layer;
            run_layer(decoder_[i], x, normed, [&](const auto& s, auto in, auto y) {
                using sub = std::remove_cvref_t<decltype(s)>;
                if constexpr (sub::kind == sublayer::self_attention) {
                    with_bias(decoder_bias_, [&](const auto& bias) {
                        s.block.forward_cached(in, y, true, session.self[self_index++],
                                               causal_mask{}, bias, no_transform{}, no_transform{},
                                               params, ws);
                    });
                } else if constexpr (sub::kind == sublayer::cross_attention) {
                    s.block.forward(in, y, true, session.cross[cross_index++], encoder_mask,
                                    no_bias{}, params, q_buffer.view(), context.view());
                } else {
                    s.block.forward(in, y, true, ffn_scratch.view());
                }
            });
            if (hidden_states != nullptr && i + 1 < decoder_layers) {
                hidden_states->push_back(x);
            }
        }
        finish_stack(decoder_stage_, x, hidden_states);
        head(x, logits);
    }

    /// Every parameter under the HF names of the family's table (`Spec::names`).
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        constexpr auto n = Spec::names;
        hf_binder<Visitor> b(v, prefix, n.base);
        b.tensor("", n.shared, shared_.view(), 0, "weight");
        visit_stack(b, n.encoder, encoder_stage_, encoder_);
        visit_stack(b, n.decoder, decoder_stage_, decoder_);
        if constexpr (traits::tie_word_embeddings) {
            b.ignore("", std::string(n.lm_head) + ".weight");
        } else {
            b.module("", n.lm_head, lm_head_); // a linear layer: packed at load
        }
        if constexpr (traits::logits_bias) {
            b.tensor("", n.logits_bias, logits_bias_.view());
        }
        b.ignore("", n.ignored);
    }

    /// Load-time work: the relative-bias tables of both stacks, tabulated once.
    void finish_loading() {
        if constexpr (has_relative_bias) {
            encoder_bias_.emplace(encoder_stage_.relative_bias.view(), true, traits::max_distance);
            decoder_bias_.emplace(decoder_stage_.relative_bias.view(), false, traits::max_distance);
        }
    }

    /// The layers of each stack, for inspection.
    [[nodiscard]] const std::vector<encoder_layer>& encoder() const noexcept { return encoder_; }
    [[nodiscard]] const std::vector<decoder_layer>& decoder() const noexcept { return decoder_; }

private:
    using rows = tensor<float, shape<dyn, hidden>>;
    using const_rows = tensor_view<const float, shape<dyn, hidden>>;
    static constexpr index_t position_rows =
        has_learned_positions ? max_positions + traits::position_offset : 0;

    template <bool Has, class T>
    using optional_member = std::conditional_t<Has, T, detail::absent>;

    /// What each stack has besides its layers: positions, norms, its relative-bias table.
    template <index_t BiasHeads>
    struct stage {
        [[no_unique_address]] optional_member<has_learned_positions,
                                              tensor<float, shape<position_rows, hidden>>>
            positions;
        [[no_unique_address]] optional_member<traits::embedding_norm, norm_type> norm;
        [[no_unique_address]] optional_member<has_relative_bias,
                                              tensor<float, shape<traits::num_buckets, BiasHeads>>>
            relative_bias;
        [[no_unique_address]] optional_member<traits::final_norm, norm_type> final_norm;
    };

    template <class Stage>
    static void set_eps(Stage& st) {
        if constexpr (traits::embedding_norm) {
            st.norm.eps = C::norm_eps;
        }
        if constexpr (traits::final_norm) {
            st.final_norm.eps = C::norm_eps;
        }
    }

    static void check_positions(const char* what, [[maybe_unused]] index_t length) {
        if constexpr (has_learned_positions) {
            detail::check_at_most(what, length, max_positions);
        }
    }

    static attention_params attention_parameters() {
        attention_params params;
        if constexpr (traits::attention_scale != 0.0f) {
            params = params.with_scale(traits::attention_scale);
        }
        return params;
    }

    static constexpr index_t ffn_rows(index_t n) noexcept {
        return traits::ffn == ffn_kind::gated ? 2 * n : n;
    }

    /// The embedding stage of one sequence whose first token is at `past`.
    template <class Stage>
    void embed(const Stage& st, tensor_view<float, shape<dyn, hidden>> x, index_t past) const {
        if constexpr (traits::scale_embeddings) {
            scale(x, static_cast<float>(std::sqrt(static_cast<double>(hidden))));
        }
        if constexpr (has_learned_positions) {
            embedding_lookup_add(st.positions.view(),
                                 offset_position_ids(x.rows(), past, traits::position_offset), x);
        }
        if constexpr (traits::embedding_norm) {
            st.norm.forward(tensor_view<const float, shape<dyn, hidden>>(x), x);
        }
    }

    /// The stack's final norm, and the last hidden state HF reports.
    template <class Stage>
    static void finish_stack(const Stage& st, rows& x,
                             std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states) {
        if constexpr (traits::final_norm) {
            st.final_norm.forward(const_rows(x.view()), x.view());
        }
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
    }

    /// Runs the sub-layers of `layer` in order: `body(sublayer, input, output)` adds the
    /// block's output into the residual stream, normed before (pre) or after (post).
    template <class Layer, class Body>
    static void run_layer(const Layer& layer, rows& x, rows& scratch, Body&& body) {
        std::apply(
            [&](const auto&... s) {
                const auto run = [&](const auto& sub) {
                    if constexpr (traits::placement == norm_placement::pre) {
                        sub.norm.forward(const_rows(x.view()), scratch.view());
                        body(sub, const_rows(scratch.view()), x.view());
                    } else {
                        body(sub, const_rows(x.view()), x.view());
                        sub.norm.forward(const_rows(x.view()), x.view());
                    }
                };
                (run(s), ...);
            },
            layer);
    }

    template <class F>
    static void with_bias(const std::optional<t5_relative_bias>& bias, F&& f) {
        if constexpr (has_relative_bias) {
            if (!bias) {
                throw value_error("encoder_decoder: the relative bias tables are built by "
                                  "load_parameters (finish_loading was not called)");
            }
            f(*bias);
        } else {
            f(no_bias{});
        }
    }

    /// The logits of the last `logits.rows()` positions.
    void head(rows& all, tensor_view<float, shape<dyn, vocab>> logits) const {
        const auto x = all.view().rows(all.rows() - logits.rows(), logits.rows());
        // T5 rescales the decoder output by d_model^-0.5 before a tied head (Mesh TensorFlow's
        // convention); HF computes the product in this order, so do we.
        if constexpr (traits::scale_decoder_outputs) {
            scale(x, 1.f / std::sqrt(static_cast<float>(hidden)));
        }
        if constexpr (traits::tie_word_embeddings) {
            if constexpr (traits::logits_bias) {
                matmul_bt(const_rows(x), shared_.view(), logits_bias_.view()[0], logits);
            } else {
                matmul_bt(const_rows(x), shared_.view(), logits);
            }
        } else {
            lm_head_.forward(const_rows(x), logits);
            if constexpr (traits::logits_bias) {
                // The same bits as a fused bias: one rounding of the sum either way.
                for (index_t r = 0; r < logits.rows(); ++r) {
                    add_inplace(logits[r], logits_bias_.view()[0]);
                }
            }
        }
    }

    template <class Binder, std::size_t N, class Stage, class Layers>
    static void visit_stack(Binder& b, const stack_names<N>& n, Stage& st, Layers& layers) {
        static_assert(std::tuple_size_v<typename Layers::value_type> == N,
                      "encoder_decoder: the names table gives one entry per sub-layer");
        if constexpr (has_learned_positions) {
            b.tensor("", n.positions, st.positions.view(), 0, "weight");
        }
        if constexpr (traits::embedding_norm) {
            b.module("", n.embedding_norm, st.norm);
        }
        for (index_t i = 0; i < layers.size(); ++i) {
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (visit_sublayer(b, n.layer, n.sublayers[I], std::get<I>(layers[i]), i), ...);
            }
            (std::make_index_sequence<N>{});
        }
        if constexpr (has_relative_bias) {
            b.tensor("", n.relative_bias, st.relative_bias.view(), 0, "weight");
        }
        if constexpr (traits::final_norm) {
            b.module("", n.final_norm, st.final_norm);
        }
    }

    template <class Binder, class Sub>
    static void visit_sublayer(Binder& b, std::string_view layer, const sublayer_names& n, Sub& s,
                               index_t i) {
        const std::string scope = std::string(layer) + std::string(n.scope);
        b.module(layer, n.norm, s.norm, i);
        if constexpr (Sub::kind == sublayer::self_attention) {
            b.module(scope, n.q, s.block.projection.q, i);
            b.module(scope, n.k, s.block.projection.k, i);
            b.module(scope, n.v, s.block.projection.v, i);
            b.module(scope, n.out, s.block.out, i);
        } else if constexpr (Sub::kind == sublayer::cross_attention) {
            b.module(scope, n.q, s.block.q, i);
            b.module(scope, n.k, s.block.k, i);
            b.module(scope, n.v, s.block.v, i);
            b.module(scope, n.out, s.block.out, i);
        } else {
            if constexpr (traits::ffn == ffn_kind::gated) {
                b.module(scope, n.gate, s.block.gate, i);
            }
            b.module(scope, n.up, s.block.up, i);
            b.module(scope, n.down, s.block.down, i);
        }
    }

    tensor<float, shape<vocab, hidden>> shared_;
    stage<heads> encoder_stage_;
    stage<decoder_heads> decoder_stage_;
    std::vector<encoder_layer> encoder_;
    std::vector<decoder_layer> decoder_;
    [[no_unique_address]] optional_member<!traits::tie_word_embeddings,
                                          linear<hidden, vocab, false>>
        lm_head_;
    [[no_unique_address]] optional_member<traits::logits_bias, tensor<float, shape<1, vocab>>>
        logits_bias_;
    std::optional<t5_relative_bias> encoder_bias_;
    std::optional<t5_relative_bias> decoder_bias_;
};

} // namespace ctt
