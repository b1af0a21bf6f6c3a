#pragma once
/**
 * @file
 * @brief T5 (Raffel et al., arXiv:1910.10683) as HF's `T5ForConditionalGeneration` computes
 *        it, as a spec of `encoder_decoder`: pre-RMSNorm stacks with final norms, a bucketed
 *        relative position bias per stack (bidirectional in the encoder, causal in the decoder;
 *        each table lives in the stack's first layer and serves all of them), no `1/sqrt(d)`
 *        scale, no biases, ReLU or gated-GELU feed-forward (T5 v1.1, mT5, Flan-T5), and an LM
 *        head tied to the embeddings (then fed `d_model^-0.5 x`) or not.
 *
 * `t5<C>` takes a config under HF `T5Config`'s names (`t5_config`), as `ctt_add_hf_model`
 * generates it.
 */

#include "ctt/models/encoder_decoder.hpp"

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

namespace families {

/// T5's slots and names (`encoder.block.{}.layer.<sub-layer>.`).
struct t5_spec : seq2seq_spec {
    static constexpr norm_kind norm = norm_kind::rms_norm;
    static constexpr attention_position position = attention_position::t5_buckets;
    static constexpr bool final_norm = true;
    static constexpr seq2seq_names<> names = {
        .base = "",
        .shared = "shared",
        .encoder = {.layer = "encoder.block.{}.layer.",
                    .sublayers = {{{.norm = "0.layer_norm",
                                    .scope = "0.SelfAttention.",
                                    .q = "q",
                                    .k = "k",
                                    .v = "v",
                                    .out = "o"},
                                   {.norm = "1.layer_norm",
                                    .scope = "1.DenseReluDense.",
                                    .up = "wi|wi_1",
                                    .gate = "wi_0",
                                    .down = "wo"}}},
                    .relative_bias =
                        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias",
                    .final_norm = "encoder.final_layer_norm"},
        .decoder = {.layer = "decoder.block.{}.layer.",
                    .sublayers = {{{.norm = "0.layer_norm",
                                    .scope = "0.SelfAttention.",
                                    .q = "q",
                                    .k = "k",
                                    .v = "v",
                                    .out = "o"},
                                   {.norm = "1.layer_norm",
                                    .scope = "1.EncDecAttention.",
                                    .q = "q",
                                    .k = "k",
                                    .v = "v",
                                    .out = "o"},
                                   {.norm = "2.layer_norm",
                                    .scope = "2.DenseReluDense.",
                                    .up = "wi|wi_1",
                                    .gate = "wi_0",
                                    .down = "wo"}}},
                    .relative_bias =
                        "decoder.block.0.layer.0.SelfAttention.relative_attention_bias",
                    .final_norm = "decoder.final_layer_norm"},
        .ignored = "encoder.embed_tokens.weight decoder.embed_tokens.weight",
    };
};

} // namespace families

namespace detail {

/// A `t5_config` under `encoder_decoder`'s names.
template <t5_config C>
struct t5_seq2seq_config {
    static constexpr index_t vocab_size = C::vocab_size;
    static constexpr index_t hidden_size = C::d_model;
    static constexpr index_t num_heads = C::num_heads;
    static constexpr index_t head_dim = C::d_kv;
    static constexpr index_t intermediate_size = C::d_ff;
    static constexpr index_t encoder_layers = C::num_layers;
    static constexpr index_t decoder_layers = C::num_decoder_layers;
    static constexpr index_t num_buckets = C::num_buckets;
    static constexpr index_t max_distance = C::max_distance;
    static constexpr float norm_eps = C::layer_norm_eps;
    static constexpr activation hidden_act = C::dense_act;
    static constexpr ffn_kind ffn = C::gated ? ffn_kind::gated : ffn_kind::dense;
    static constexpr float attention_scale = 1.0f; // T5 does not scale its scores
    static constexpr bool tie_word_embeddings = C::tie_word_embeddings;
    /// The config's `scale_decoder_outputs` (transformers 5 saves it), else whenever the head
    /// is tied (T5's convention before it; MT5's generated configs say false).
    static constexpr bool scale_decoder_outputs = [] {
        if constexpr (requires { C::scale_decoder_outputs; }) {
            return static_cast<bool>(C::scale_decoder_outputs);
        } else {
            return static_cast<bool>(C::tie_word_embeddings);
        }
    }();
    static constexpr int decoder_start_token_id = C::decoder_start_token_id;
};

} // namespace detail

/** @brief T5 encoder-decoder with its LM head; weights under HF's names. */
template <t5_config C>
using t5 = encoder_decoder<detail::t5_seq2seq_config<C>, families::t5_spec>;

} // namespace ctt
