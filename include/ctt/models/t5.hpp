#pragma once
/**
 * @file
 * @brief T5 (Raffel et al., arXiv:1910.10683) as HF's `T5ForConditionalGeneration` computes
 *        it: a pre-RMSNorm encoder with a bucketed relative position bias (bidirectional,
 *        computed by the first layer and shared by all), a decoder with causal self-attention
 *        (its own causal bias table) and cross-attention to the encoder, no `1/sqrt(d)` scale,
 *        ReLU or gated-GELU feed-forward (T5 v1.1, mT5, Flan-T5), and an LM head that is tied
 *        to the embeddings (then scaled by `d_model^-0.5`) or not.
 */

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/kernels/elementwise.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/t5_bias.hpp"

namespace ctt {

/// What a T5 configuration provides (HF `T5Config` names in comments).
template <class C>
concept t5_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;         // vocab_size
    { C::d_model } -> std::convertible_to<index_t>;            // d_model
    { C::d_kv } -> std::convertible_to<index_t>;               // d_kv
    { C::num_heads } -> std::convertible_to<index_t>;          // num_heads
    { C::d_ff } -> std::convertible_to<index_t>;               // d_ff
    { C::num_layers } -> std::convertible_to<index_t>;         // num_layers
    { C::num_decoder_layers } -> std::convertible_to<index_t>; // num_decoder_layers
    { C::num_buckets } -> std::convertible_to<index_t>;        // relative_attention_num_buckets
    { C::max_distance } -> std::convertible_to<index_t>;       // relative_attention_max_distance
    { C::layer_norm_eps } -> std::convertible_to<float>;       // layer_norm_epsilon
    { C::dense_act } -> std::convertible_to<activation>;       // feed_forward_proj's activation
    { C::gated } -> std::convertible_to<bool>;                 // feed_forward_proj "gated-..."
    { C::tie_word_embeddings } -> std::convertible_to<bool>;   // tie_word_embeddings
    { C::decoder_start_token_id } -> std::convertible_to<int>; // decoder_start_token_id
};

/** @brief T5 encoder-decoder with its LM head; weights under HF's names. */
template <t5_config C>
class t5 {
public:
    using config = C;
    static constexpr index_t hidden = C::d_model;
    static constexpr index_t heads = C::num_heads;
    static constexpr index_t head_dim = C::d_kv;
    static constexpr index_t inner = C::d_ff;
    static constexpr index_t vocab = C::vocab_size;
    /// Whether the decoder output is scaled by `d_model^-0.5` before the head: the config's
    /// `scale_decoder_outputs` (transformers 5 saves it), else whenever the head is tied (T5's
    /// convention before it; MT5's generated configs say false).
    static constexpr bool scale_decoder_outputs = [] {
        if constexpr (requires { C::scale_decoder_outputs; }) {
            return static_cast<bool>(C::scale_decoder_outputs);
        } else {
            return static_cast<bool>(C::tie_word_embeddings);
        }
    }();
    static constexpr index_t encoder_layers = C::num_layers;
    static constexpr index_t decoder_layers = C::num_decoder_layers;
    static constexpr index_t attention_width = heads * head_dim;

    using self_attention =
        attention_block<hidden, heads, heads, head_dim,
                        separate_qkv<hidden, attention_width, attention_width, false>, false>;
    using cross_attention = cross_attention_block<hidden, heads, head_dim, false>;
    using ffn_type = std::conditional_t<C::gated, gated_feed_forward<hidden, inner, C::dense_act>,
                                        feed_forward<hidden, inner, C::dense_act, false>>;
    static constexpr index_t ffn_scratch_rows = C::gated ? 2 : 1;

    struct encoder_layer {
        self_attention attention;
        ffn_type ffn;
        residual_layer<norm_placement::pre, rms_norm_block<hidden>> norms;
    };
    struct decoder_layer {
        self_attention self;
        rms_norm_block<hidden> self_norm;
        cross_attention cross;
        rms_norm_block<hidden> cross_norm;
        ffn_type ffn;
        rms_norm_block<hidden> ffn_norm;
    };

    /// The encoder's output for a batch: `[batch * length, d_model]`, and its padding.
    struct encoding {
        tensor<float, shape<dyn, hidden>> states;
        std::vector<tensor<float, shape<dyn, hidden>>> hidden_states; ///< when asked for
        std::vector<std::uint8_t> padding; ///< 1 = token, per batch row and position
        index_t batch = 0;
        index_t length = 0;
    };

    /// One sequence being decoded: self-attention caches and the encoder's keys and values.
    struct session_type {
        layered_kv_cache<decoder_layers, heads, head_dim> self;
        std::vector<kv_cache<heads, head_dim>> cross;
        std::vector<std::uint8_t> encoder_padding;
        [[nodiscard]] index_t length() const noexcept { return self.length(); }
    };

    t5()
        : encoder_(encoder_layers)
        , decoder_(decoder_layers) {
        for (auto& l : encoder_) {
            l.norms.norm1.eps = C::layer_norm_eps;
            l.norms.norm2.eps = C::layer_norm_eps;
        }
        for (auto& l : decoder_) {
            l.self_norm.eps = C::layer_norm_eps;
            l.cross_norm.eps = C::layer_norm_eps;
            l.ffn_norm.eps = C::layer_norm_eps;
        }
        encoder_final_.eps = C::layer_norm_eps;
        decoder_final_.eps = C::layer_norm_eps;
    }

    /// Runs the encoder over `ids` (`[batch, length]`) with an optional `attention_mask`.
    encoding encode(token_ids ids, const token_ids* attention_mask = nullptr,
                    bool keep_hidden_states = false) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        const index_t n = batch * length;
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
        tensor<float, shape<dyn, hidden>> x(n);
        for (index_t b = 0; b < batch; ++b) {
            embedding_lookup(shared_.view(), sequence(ids, b), x.view().rows(b * length, length));
        }
        if (keep_hidden_states) {
            out.hidden_states.push_back(x);
        }
        const t5_relative_bias bias(encoder_bias_.view(), true, C::max_distance);
        const auto params = attention_params{}.with_scale(1.f);
        tensor<float, shape<dyn, hidden>> scratch(n);
        tensor<float, shape<dyn, inner>> ffn_scratch(ffn_scratch_rows * n);
        typename self_attention::workspace ws(n);
        const auto mask_for = [&padding](index_t b) { return padding.mask(b); };
        for (index_t i = 0; i < encoder_layers; ++i) {
            const auto& l = encoder_[i];
            l.norms.forward(
                x.view(), scratch.view(), scratch.view(),
                [&](auto in, auto y, bool acc) {
                    l.attention.forward(in, y, acc, batch, length, mask_for, bias, no_transform{},
                                        no_transform{}, params, ws);
                },
                [&](auto in, auto y, bool acc) { l.ffn.forward(in, y, acc, ffn_scratch.view()); });
            if (keep_hidden_states && i + 1 < encoder_layers) {
                out.hidden_states.push_back(x);
            }
        }
        encoder_final_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view());
        if (keep_hidden_states) {
            out.hidden_states.push_back(x);
        }
        out.states = std::move(x);
        return out;
    }

    /// A decoding session for batch row `b` of `enc`, for up to `capacity` decoder tokens.
    [[nodiscard]] session_type new_session(const encoding& enc, index_t b, index_t capacity) const {
        session_type s{layered_kv_cache<decoder_layers, heads, head_dim>(capacity), {}, {}};
        const auto memory = tensor_view<const float, shape<dyn, hidden>>(
            enc.states.view().rows(b * enc.length, enc.length));
        s.cross.reserve(decoder_layers);
        for (const auto& l : decoder_) {
            s.cross.emplace_back(enc.length);
            l.cross.prepare(memory, s.cross.back());
        }
        s.encoder_padding.assign(enc.padding.begin() + b * enc.length,
                                 enc.padding.begin() + (b + 1) * enc.length);
        return s;
    }

    /// Appends decoder `tokens` to `session` and writes their logits.
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits,
              std::vector<tensor<float, shape<dyn, hidden>>>* hidden_states = nullptr) const {
        const index_t n = tokens.size();
        tensor<float, shape<dyn, hidden>> x(n);
        embedding_lookup(shared_.view(), tokens, x.view());
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
        const t5_relative_bias bias(decoder_bias_.view(), false, C::max_distance);
        const auto params = attention_params{}.with_scale(1.f);
        const key_padding_mask encoder_mask(std::span<const std::uint8_t>(session.encoder_padding));
        tensor<float, shape<dyn, hidden>> normed(n);
        tensor<float, shape<dyn, inner>> ffn_scratch(ffn_scratch_rows * n);
        tensor<float, shape<dyn, attention_width>> q_buffer(n);
        tensor<float, shape<dyn, attention_width>> context(n);
        typename self_attention::workspace ws(n);
        using const_rows = tensor_view<const float, shape<dyn, hidden>>;
        for (index_t i = 0; i < decoder_layers; ++i) {
            const auto& l = decoder_[i];
            l.self_norm.forward(const_rows(x.view()), normed.view());
            l.self.forward_cached(const_rows(normed.view()), x.view(), true, session.self[i],
                                  causal_mask{}, bias, no_transform{}, no_transform{}, params, ws);
            l.cross_norm.forward(const_rows(x.view()), normed.view());
            l.cross.forward(const_rows(normed.view()), x.view(), true, session.cross[i],
                            encoder_mask, no_bias{}, params, q_buffer.view(), context.view());
            l.ffn_norm.forward(const_rows(x.view()), normed.view());
            l.ffn.forward(const_rows(normed.view()), x.view(), true, ffn_scratch.view());
            if (hidden_states != nullptr && i + 1 < decoder_layers) {
                hidden_states->push_back(x);
            }
        }
        decoder_final_.forward(const_rows(x.view()), x.view());
        if (hidden_states != nullptr) {
            hidden_states->push_back(x);
        }
        // T5 rescales the decoder output by d_model^-0.5 before the head (Mesh TensorFlow's
        // convention for a tied head); HF computes the product in this order, so do we.
        if constexpr (scale_decoder_outputs) {
            scale(x.view(), 1.f / std::sqrt(static_cast<float>(hidden)));
        }
        head_.forward(const_rows(x.view()), shared_.view(), logits);
    }

    /// HF names of `T5ForConditionalGeneration`.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "shared.weight", shared_.view());
        v.ignore(prefix + "encoder.embed_tokens.weight");
        v.ignore(prefix + "decoder.embed_tokens.weight");
        for (index_t i = 0; i < encoder_layers; ++i) {
            auto& l = encoder_[i];
            const std::string p = prefix + "encoder.block." + std::to_string(i) + ".layer.";
            visit_attention(v, l.attention, p + "0.SelfAttention.");
            l.norms.norm1.visit_parameters(v, p + "0.layer_norm.");
            visit_ffn(v, l.ffn, p + "1.");
            l.norms.norm2.visit_parameters(v, p + "1.layer_norm.");
        }
        v.parameter(prefix + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    encoder_bias_.view());
        encoder_final_.visit_parameters(v, prefix + "encoder.final_layer_norm.");
        for (index_t i = 0; i < decoder_layers; ++i) {
            auto& l = decoder_[i];
            const std::string p = prefix + "decoder.block." + std::to_string(i) + ".layer.";
            visit_attention(v, l.self, p + "0.SelfAttention.");
            l.self_norm.visit_parameters(v, p + "0.layer_norm.");
            l.cross.q.visit_parameters(v, p + "1.EncDecAttention.q.");
            l.cross.k.visit_parameters(v, p + "1.EncDecAttention.k.");
            l.cross.v.visit_parameters(v, p + "1.EncDecAttention.v.");
            l.cross.out.visit_parameters(v, p + "1.EncDecAttention.o.");
            l.cross_norm.visit_parameters(v, p + "1.layer_norm.");
            visit_ffn(v, l.ffn, p + "2.");
            l.ffn_norm.visit_parameters(v, p + "2.layer_norm.");
        }
        v.parameter(prefix + "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    decoder_bias_.view());
        decoder_final_.visit_parameters(v, prefix + "decoder.final_layer_norm.");
        if constexpr (C::tie_word_embeddings) {
            v.ignore(prefix + "lm_head.weight");
        } else {
            v.parameter(prefix + "lm_head.weight", head_.weight.view());
        }
    }

private:
    template <class Visitor>
    static void visit_attention(Visitor& v, self_attention& a, const std::string& p) {
        a.projection.q.visit_parameters(v, p + "q.");
        a.projection.k.visit_parameters(v, p + "k.");
        a.projection.v.visit_parameters(v, p + "v.");
        a.out.visit_parameters(v, p + "o.");
    }
    template <class Visitor>
    static void visit_ffn(Visitor& v, ffn_type& f, const std::string& p) {
        if constexpr (C::gated) {
            f.gate.visit_parameters(v, p + "DenseReluDense.wi_0.");
            f.up.visit_parameters(v, p + "DenseReluDense.wi_1.");
        } else {
            f.up.visit_parameters(v, p + "DenseReluDense.wi.");
        }
        f.down.visit_parameters(v, p + "DenseReluDense.wo.");
    }

    tensor<float, shape<vocab, hidden>> shared_;
    std::vector<encoder_layer> encoder_;
    std::vector<decoder_layer> decoder_;
    tensor<float, shape<C::num_buckets, heads>> encoder_bias_;
    tensor<float, shape<C::num_buckets, heads>> decoder_bias_;
    rms_norm_block<hidden> encoder_final_;
    rms_norm_block<hidden> decoder_final_;
    lm_head<hidden, vocab, C::tie_word_embeddings> head_;
};

} // namespace ctt
