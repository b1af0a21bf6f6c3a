#pragma once
/**
 * @file
 * @brief DALL-E's transformer (Ramesh et al., arXiv:2102.12092): one decoder over
 *        `[text tokens | image_size x image_size image tokens]`, text causal, image layers
 *        cycling through the config's attention patterns (`attn_types`: row, column,
 *        convolutional, full), learned text positions and axial (row + column) image positions,
 *        and one head over the joint vocabulary whose logits are masked so that a position
 *        predicts the kind of token that follows it.
 *
 * No reference checkpoint exists: the model is a spec. It is `causal_lm` (pre-LN layers, GEGLU
 * feed-forward, biased head) with DALL-E's per-layer masks (`dalle_mask`), fed embeddings that
 * `dalle` builds: the joint token table (text ids, then image ids offset by `text_vocab_size`,
 * as DALLE-pytorch's `share_input_output_emb`), plus the position of each token. Names follow
 * DALLE-pytorch where its layout is ctt's (`text_pos_emb`, `image_pos_emb.weights_0/1`), ctt's own
 * elsewhere.
 *
 * Tokens are given in the joint sequence's own id spaces: positions `< text_len` hold text ids
 * (`< text_vocab_size`), the others image ids (`< image_vocab_size`).
 */

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ctt/attention/sparse_masks.hpp"
#include "ctt/models/causal_lm.hpp"
#include "ctt/models/generation.hpp"

namespace ctt {

/// What a DALL-E configuration provides.
template <class C>
concept dalle_config = requires {
    { C::text_vocab_size } -> std::convertible_to<index_t>;
    { C::image_vocab_size } -> std::convertible_to<index_t>;
    { C::text_len } -> std::convertible_to<index_t>;   ///< text positions, `<bos>` included
    { C::image_size } -> std::convertible_to<index_t>; ///< the token grid's side
    { C::hidden_size } -> std::convertible_to<index_t>;
    { C::num_heads } -> std::convertible_to<index_t>;
    { C::head_dim } -> std::convertible_to<index_t>;
    { C::intermediate_size } -> std::convertible_to<index_t>;
    { C::num_layers } -> std::convertible_to<index_t>;
    { C::attn_types[0] } -> std::convertible_to<dalle_pattern>; ///< cycled over the layers
    { C::norm_eps } -> std::convertible_to<float>;
};

namespace detail {

/// A DALL-E config as `causal_lm`'s: the joint vocabulary and sequence.
template <class C>
struct dalle_decoder_config {
    static constexpr index_t vocab_size = C::text_vocab_size + C::image_vocab_size;
    static constexpr index_t hidden_size = C::hidden_size;
    static constexpr index_t num_heads = C::num_heads;
    static constexpr index_t head_dim = C::head_dim;
    static constexpr index_t intermediate_size = C::intermediate_size;
    static constexpr index_t num_layers = C::num_layers;
    static constexpr index_t max_positions = C::text_len + C::image_size * C::image_size;
    static constexpr activation hidden_act = activation::gelu_erf; // GEGLU
    static constexpr float norm_eps = C::norm_eps;
    static constexpr index_t text_len = C::text_len;
    static constexpr index_t image_size = C::image_size;
    /// Layer `i`'s pattern: `attn_types` cycled over the layers.
    static constexpr dalle_pattern attn_type(index_t i) {
        return C::attn_types[i % std::size(C::attn_types)];
    }
    static constexpr index_t conv_kernel = [] {
        if constexpr (requires { C::conv_kernel; }) {
            return static_cast<index_t>(C::conv_kernel);
        } else {
            return index_t{3};
        }
    }();
    static constexpr index_t conv_dilation = [] {
        if constexpr (requires { C::conv_dilation; }) {
            return static_cast<index_t>(C::conv_dilation);
        } else {
            return index_t{1};
        }
    }();
};

} // namespace detail

namespace families {

/// DALL-E's decoder: pre-LN, bias-free fused QKV, biased output, GEGLU, a biased untied head.
struct dalle_decoder : decoder_spec {
    static constexpr qkv_layout qkv = qkv_layout::fused;
    static constexpr bool out_bias = true;
    static constexpr ffn_kind ffn = ffn_kind::gated;
    static constexpr bool ffn_bias = true;
    static constexpr bool tie_word_embeddings = false;
    static constexpr bool head_bias = true;
    static constexpr decoder_names names{.base = "",
                                         .embed_tokens = "token_emb",
                                         .layer = "transformer.layers.{}.",
                                         .norm1 = "attn_norm",
                                         .norm2 = "ff_norm",
                                         .qkv = "attn.to_qkv",
                                         .out = "attn.to_out",
                                         .up = "ff.up",
                                         .gate = "ff.gate",
                                         .down = "ff.down",
                                         .final_norm = "norm",
                                         .lm_head = "to_logits"};

    /// Layer `i`'s mask: the config's `attn_types[i % size]` over the text and the image grid.
    template <class C>
    static constexpr dalle_mask layer_mask(index_t i) {
        return {C::attn_type(i), C::text_len, C::image_size, C::conv_kernel, C::conv_dilation};
    }
};

} // namespace families

/** @brief DALL-E's transformer over `[text | image grid]`; see the file comment. */
template <dalle_config C>
class dalle {
public:
    using config = C;
    using decoder_type = causal_lm<detail::dalle_decoder_config<C>, families::dalle_decoder>;
    using session_type = typename decoder_type::session_type;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t text_vocab = C::text_vocab_size;
    static constexpr index_t image_vocab = C::image_vocab_size;
    static constexpr index_t vocab = decoder_type::vocab; ///< the joint vocabulary
    static constexpr index_t text_len = C::text_len;
    static constexpr index_t image_size = C::image_size;
    static constexpr index_t image_len = image_size * image_size;
    static constexpr index_t sequence_len = text_len + image_len;

    /// An empty session for the whole sequence (or `capacity` tokens of it).
    [[nodiscard]] session_type new_session(index_t capacity = sequence_len) const {
        return decoder_.new_session(capacity);
    }

    /**
     * @brief Appends `tokens` (text ids while the sequence is in its text, image ids after) and
     *        writes the logits of the last `logits.rows()` of them over the joint vocabulary,
     *        masked: a position whose successor
     *        is text has `-inf` for every image token, and the other way round.
     */
    void step(session_type& session, std::span<const std::int32_t> tokens,
              tensor_view<float, shape<dyn, vocab>> logits) const {
        const index_t past = session.length();
        const index_t n = tokens.size();
        detail::check_at_most("dalle: sequence length and text_len + image_size^2 differ", past + n,
                              sequence_len);
        tensor<float, shape<dyn, hidden>> x(n);
        const auto table = decoder_.token_embeddings();
        std::vector<std::int32_t> joint(n);
        for (index_t t = 0; t < n; ++t) {
            const index_t p = past + t;
            const bool text = p < text_len;
            const std::int64_t limit = text ? text_vocab : image_vocab;
            if (tokens[t] < 0 || tokens[t] >= limit) {
                throw value_error(detail::message("dalle: token ", std::to_string(tokens[t]),
                                                  " at position ", std::to_string(p),
                                                  text ? " is not a text id (text_vocab_size "
                                                       : " is not an image id (image_vocab_size ",
                                                  std::to_string(limit), ")"));
            }
            joint[t] = static_cast<std::int32_t>(tokens[t] + (text ? 0 : text_vocab));
        }
        embedding_lookup(table, joint, x.view());
        for (index_t t = 0; t < n; ++t) {
            add_position(past + t, x[t].data());
        }
        decoder_.step_embeddings(session, tensor_view<const float, shape<dyn, hidden>>(x.view()),
                                 logits);
        constexpr float masked = -std::numeric_limits<float>::infinity();
        const index_t first = past + n - logits.rows(); // the position of logits row 0
        for (index_t t = 0; t < logits.rows(); ++t) {
            const bool next_is_text = first + t + 1 < text_len;
            float* row = logits[t].data();
            std::fill(row + (next_is_text ? text_vocab : 0),
                      row + (next_is_text ? vocab : text_vocab), masked);
        }
    }

    /// The image tokens that follow `text` (`text_len` ids, `<bos>` first), one at a time
    /// through the KV cache.
    [[nodiscard]] std::vector<std::int32_t>
    generate_image(std::span<const std::int32_t> text, const sampling_options& options = {}) const {
        detail::check_dims("dalle: the prompt must hold text_len text tokens", text.size(),
                           text_len);
        auto session = new_session();
        std::mt19937_64 rng(options.seed);
        tensor<float, shape<dyn, vocab>> logits(1); // the last position's: the first image token
        step(session, text, logits.view());
        std::vector<std::int32_t> image;
        image.reserve(image_len);
        for (index_t i = 0; i < image_len; ++i) {
            const auto row = logits[logits.rows() - 1];
            // Only image logits survive the mask: choose among them.
            const auto next = choose_token({row.data() + text_vocab, image_vocab}, options, rng);
            image.push_back(next);
            if (i + 1 == image_len) {
                break;
            }
            step(session, std::span(&image.back(), 1), logits.view());
        }
        return image;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        decoder_.visit_parameters(v, prefix);
        v.parameter(prefix + "text_pos_emb.weight", text_positions_.view());
        // DALLE-pytorch's AxialPositionalEmbedding: `[1, rows, 1, dim]` and `[1, 1, cols, dim]`.
        v.parameter(prefix + "image_pos_emb.weights_0",
                    row_positions_.view().reshape(shape<1, image_size, 1, hidden>{}));
        v.parameter(prefix + "image_pos_emb.weights_1",
                    column_positions_.view().reshape(shape<1, 1, image_size, hidden>{}));
    }

    void finish_loading() { decoder_.finish_loading(); }

    /// The decoder (layers, head), for inspection.
    [[nodiscard]] const decoder_type& decoder() const noexcept { return decoder_; }

private:
    /// Text position `p`, or image token `p - text_len`'s row and column embeddings.
    void add_position(index_t p, float* x) const {
        const auto add = [x](const float* e) {
            for (index_t c = 0; c < hidden; ++c) {
                x[c] += e[c];
            }
        };
        if (p < text_len) {
            add(text_positions_[p].data());
        } else {
            const index_t i = p - text_len;
            add(row_positions_[i / image_size].data());
            add(column_positions_[i % image_size].data());
        }
    }

    decoder_type decoder_;
    tensor<float, shape<text_len, hidden>> text_positions_;
    tensor<float, shape<image_size, hidden>> row_positions_;
    tensor<float, shape<image_size, hidden>> column_positions_;
};

} // namespace ctt
