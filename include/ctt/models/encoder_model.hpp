#pragma once
/**
 * @file
 * @brief `encoder_model<Config, Spec>`: every bidirectional (or CLIP-text causal) encoder of the
 *        review as one template, the counterpart of `causal_lm`.
 *
 * A family is a *spec*: a struct deriving from `encoder_spec` that overrides the slots where it
 * differs (embeddings, norm placement, attention kind, heads) and gives its Hugging Face names
 * as an `encoder_names` table. The *config* holds sizes and values and overrides any slot by a
 * member of the same name (`positions` for DeBERTa's `position_biased_input`, `heads` for the
 * architecture a checkpoint was saved as). See `models/albert.hpp` for a family in full.
 *
 * One call runs a whole padded batch `[batch, length]` (or `pixel_values`
 * `[batch, channels, height, width]` for a vision spec); padding keys are masked, so each row's
 * output does not depend on the rest of the batch.
 */

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/models/hf_names.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/models/spec_slots.hpp"
#include "ctt/position/deberta.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/sinusoidal.hpp"

namespace ctt {

/// What an encoder reads.
enum class encoder_input {
    tokens,  ///< token ids (`[batch, length]`)
    patches, ///< `pixel_values`, cut into patches and projected (ViT, CLIP's vision tower)
};

/// How learned positions are numbered.
enum class position_numbering {
    sequential,        ///< `0, 1, ..., length - 1`
    after_padding_idx, ///< RoBERTa: real tokens from `pad_token_id + 1`, pads at `pad_token_id`
};

/// The self-attention of the layers.
enum class encoder_attention {
    standard,     ///< `softmax(q k^T / sqrt(D))`
    disentangled, ///< DeBERTa: content plus c2p / p2c relative terms, scale `1/sqrt(D (1 + t))`
};

/// The output heads an encoder carries, as flags (HF's architecture decides them).
enum class encoder_heads : unsigned {
    none = 0,
    pooler = 1,        ///< `act(dense(first token))` (tanh: BERT, ALBERT, ViT)
    masked_lm = 2,     ///< transform, tied decoder and bias (XLM: the decoder and bias alone)
    sentence_pair = 4, ///< next-sentence / sentence-order logits over the pooled output
    discriminator = 8, ///< ELECTRA's replaced-token logit per token
};
[[nodiscard]] constexpr encoder_heads operator|(encoder_heads a, encoder_heads b) noexcept {
    return static_cast<encoder_heads>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// Whether `set` holds head `h`.
[[nodiscard]] constexpr bool has_head(encoder_heads set, encoder_heads h) noexcept {
    return (static_cast<unsigned>(set) & static_cast<unsigned>(h)) != 0;
}

/**
 * @brief Where an encoder's tensors live in a Hugging Face checkpoint (patterns as in
 *        `models/hf_names.hpp`; `{}` is the index of a weight layer, `{g}` its group when layers
 *        are shared, ALBERT). An empty pattern: the family has no such tensor.
 */
struct encoder_names {
    std::string_view base = {}; ///< base-model prefix, accepted with or without
    // Embeddings.
    std::string_view embed_tokens = {};
    std::string_view embed_positions = {};
    std::string_view embed_token_types = {};
    std::string_view embed_langs = {};      ///< XLM
    std::string_view embed_norm = {};       ///< LayerNorm of the embeddings (CLIP: pre-LN)
    std::string_view embed_projection = {}; ///< E -> H (ALBERT, ELECTRA)
    std::string_view patch_projection = {}; ///< the patch convolution `[H, C, P, P]`
    std::string_view cls_token = {};        ///< the learned first token of an image
    // Layers.
    std::string_view layer = {}; ///< prefix of weight layer `{}`
    std::string_view norm1 = {}; ///< after attention (post-norm) or before it (pre-norm)
    std::string_view norm2 = {}; ///< after / before the feed-forward
    std::string_view q = {}, k = {}, v = {};
    std::string_view qkv = {};                 ///< fused, per head `[q, k, v]` (DeBERTa v1)
    std::string_view q_bias = {}, v_bias = {}; ///< biases of a bias-free fused projection
    std::string_view pos_key = {};             ///< DeBERTa: Kr projection (c2p)
    std::string_view pos_query = {};           ///< DeBERTa: Qr projection (p2c)
    std::string_view out = {};
    std::string_view up = {}, down = {};
    // Shared by the layers.
    std::string_view rel_embeddings = {}; ///< DeBERTa's relative embeddings
    std::string_view rel_norm = {};       ///< their LayerNorm (`norm_rel_ebd`)
    std::string_view final_norm = {};
    // Heads (usually outside the base: `^`).
    std::string_view pooler = {};
    std::string_view mlm_dense = {}, mlm_norm = {};
    std::string_view mlm_decoder = {}; ///< the decoder module (its weight tied: ignored)
    std::string_view mlm_bias = {};    ///< the tensor of the decoder's bias
    std::string_view sentence_pair = {};
    std::string_view discriminator_dense = {}, discriminator_prediction = {};
    std::string_view layer_ignored = {}; ///< buffers of a weight layer (space-separated)
    std::string_view ignored = {};       ///< buffers outside the layers (space-separated)
};

/**
 * @brief The slots of an encoder family and their defaults: BERT's post-norm encoder with
 *        learned positions and an embedding LayerNorm, separate biased projections, no head.
 */
struct encoder_spec {
    static constexpr encoder_input input = encoder_input::tokens;
    static constexpr position_embedding positions = position_embedding::learned;
    static constexpr position_numbering numbering = position_numbering::sequential;
    static constexpr bool embedding_norm = true;
    /// ViT stores its CLS token `[1, 1, H]` and positions `[1, N + 1, H]`, CLIP `[H]`, `[N + 1,
    /// H]`.
    static constexpr bool batched_tables = false;
    static constexpr bool patch_bias = true;
    static constexpr norm_placement placement = norm_placement::post;
    static constexpr bool final_norm = false;
    static constexpr bool causal = false; ///< CLIP's text tower
    static constexpr encoder_attention attention = encoder_attention::standard;
    static constexpr qkv_layout qkv = qkv_layout::separate;
    static constexpr bool qkv_bias = true;
    static constexpr bool pos_key_bias = true; ///< DeBERTa v1's `pos_proj` has none
    static constexpr encoder_heads heads = encoder_heads::none;
    static constexpr bool mlm_transform = true; ///< XLM's head is the decoder alone
    static constexpr bool tie_word_embeddings = true;
};

namespace detail {

/// The resolved slots and values of an encoder.
template <class C, class S>
struct encoder_traits {
    CTT_SPEC_SLOT(input);
    CTT_SPEC_SLOT(positions);
    CTT_SPEC_SLOT(numbering);
    CTT_SPEC_SLOT(embedding_norm);
    CTT_SPEC_SLOT(batched_tables);
    CTT_SPEC_SLOT(patch_bias);
    CTT_SPEC_SLOT(placement);
    CTT_SPEC_SLOT(final_norm);
    CTT_SPEC_SLOT(causal);
    CTT_SPEC_SLOT(attention);
    CTT_SPEC_SLOT(qkv);
    CTT_SPEC_SLOT(qkv_bias);
    CTT_SPEC_SLOT(pos_key_bias);
    CTT_SPEC_SLOT(heads);
    CTT_SPEC_SLOT(mlm_transform);
    CTT_SPEC_SLOT(tie_word_embeddings);
    CTT_CONFIG_VALUE(vocab_size, index_t{0});
    CTT_CONFIG_VALUE(max_positions, index_t{0});
    CTT_CONFIG_VALUE(type_vocab_size, index_t{0});
    CTT_CONFIG_VALUE(num_langs, index_t{0}); ///< XLM `n_langs` with `use_lang_emb`
    CTT_CONFIG_VALUE(embedding_size, C::hidden_size);
    CTT_CONFIG_VALUE(pad_token_id, 0);
    CTT_CONFIG_VALUE(num_hidden_groups, C::num_layers); ///< ALBERT
    CTT_CONFIG_VALUE(inner_group_num, index_t{1});      ///< ALBERT
    // DeBERTa.
    CTT_CONFIG_VALUE(pos_att_c2p, true);
    CTT_CONFIG_VALUE(pos_att_p2c, true);
    CTT_CONFIG_VALUE(position_buckets, -1);
    CTT_CONFIG_VALUE(max_relative_positions, -1);
    CTT_CONFIG_VALUE(share_att_key, false);
    CTT_CONFIG_VALUE(norm_rel_ebd, false);
    // Vision.
    CTT_CONFIG_VALUE(image_size, index_t{0});
    CTT_CONFIG_VALUE(patch_size, index_t{1});
    CTT_CONFIG_VALUE(num_channels, index_t{3});
    // The activations of the heads: the config's, else the spec's, else `hidden_act`.
    static constexpr activation mlm_act = [] {
        if constexpr (requires { C::mlm_act; }) {
            return C::mlm_act;
        } else if constexpr (requires { S::mlm_act; }) {
            return S::mlm_act;
        } else {
            return C::hidden_act;
        }
    }();
    static constexpr float eps = [] {
        if constexpr (requires { C::norm_eps; }) {
            return C::norm_eps;
        } else {
            return C::layer_norm_eps;
        }
    }();
};

/// `pattern` with `{g}` replaced by `group`.
[[nodiscard]] inline std::string expand_group(std::string_view pattern, index_t group) {
    // Built by appending (GCC 12 warns falsely on std::string::replace here, -Wrestrict).
    std::string out;
    const std::string number = std::to_string(group);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern.substr(i, 3) == "{g}") {
            out += number;
            i += 2;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

/**
 * @brief `block.forward` on each row of `in` alone. Per-sequence heads run one sequence at a time:
 *        a single row takes the GEMV path, which rounds unlike the GEMM of several rows, and a
 *        sequence's result must not depend on the batch around it.
 */
template <class Block, class TI, tensor_shape SI, tensor_shape SO>
void forward_each_row(const Block& block, tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    for (index_t r = 0; r < in.rows(); ++r) {
        block.forward(in.rows(r, 1), out.rows(r, 1));
    }
}

/// `x[r] /= max(||x[r]||, eps)` for every row (`torch.nn.functional.normalize`).
template <tensor_shape S>
void l2_normalize_rows(tensor_view<float, S> x, float eps = 1e-12f) {
    for (index_t r = 0; r < x.rows(); ++r) {
        double sum = 0;
        for (index_t c = 0; c < x.cols(); ++c) {
            sum += static_cast<double>(x(r, c)) * x(r, c);
        }
        const float norm = std::max(static_cast<float>(std::sqrt(sum)), eps);
        for (index_t c = 0; c < x.cols(); ++c) {
            x(r, c) /= norm;
        }
    }
}

} // namespace detail

/**
 * @brief Cosine similarity of every row of `a` with every row of `b`: `[a.rows(), b.rows()]`
 *        (rows of `embed(..., normalize = true)` are unit vectors: their dot products).
 */
template <class TA, tensor_shape SA, class TB, tensor_shape SB>
[[nodiscard]] tensor<float, shape<dyn, dyn>> cosine_similarity(tensor_view<TA, SA> a,
                                                               tensor_view<TB, SB> b) {
    detail::check_dims("cosine_similarity: the widths differ", a.cols(), b.cols());
    tensor<float, shape<dyn, dyn>> out(a.rows(), b.rows());
    const auto norm = [](const auto& v, index_t r) {
        double s = 0;
        for (index_t c = 0; c < v.cols(); ++c) {
            s += static_cast<double>(v(r, c)) * v(r, c);
        }
        return std::sqrt(s);
    };
    for (index_t i = 0; i < a.rows(); ++i) {
        const double na = norm(a, i);
        for (index_t j = 0; j < b.rows(); ++j) {
            double dot = 0;
            for (index_t c = 0; c < a.cols(); ++c) {
                dot += static_cast<double>(a(i, c)) * b(j, c);
            }
            const double denominator = std::max(na * norm(b, j), 1e-12);
            out(i, j) = static_cast<float>(dot / denominator);
        }
    }
    return out;
}

/// What an encoder configuration provides at least (the generated configs use these names).
template <class C>
concept encoder_config = requires {
    { C::hidden_size } -> std::convertible_to<index_t>;
    { C::num_heads } -> std::convertible_to<index_t>;
    { C::intermediate_size } -> std::convertible_to<index_t>;
    { C::num_layers } -> std::convertible_to<index_t>;
    { C::hidden_act } -> std::convertible_to<activation>;
}
&&(
    requires { C::norm_eps; } || requires { C::layer_norm_eps; });

/**
 * @brief An encoder of family `Spec` configured by `C`.
 */
template <encoder_config C, class Spec>
class encoder_model {
    using traits = detail::encoder_traits<C, Spec>;

public:
    using config = C;
    using spec = Spec;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t heads = C::num_heads;
    static_assert(hidden % heads == 0, "encoder_model: hidden_size must be a multiple of the "
                                       "number of attention heads");
    static constexpr index_t head_dim = hidden / heads;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t num_layers = C::num_layers;
    static constexpr index_t embedding_width = traits::embedding_size;
    static constexpr encoder_heads head_set = traits::heads;
    static constexpr bool has_pooler = has_head(head_set, encoder_heads::pooler);
    static constexpr bool has_mlm = has_head(head_set, encoder_heads::masked_lm);
    static constexpr bool has_sentence_pair = has_head(head_set, encoder_heads::sentence_pair);
    static constexpr bool has_discriminator = has_head(head_set, encoder_heads::discriminator);
    static constexpr bool reads_tokens = traits::input == encoder_input::tokens;
    static constexpr bool reads_pixels = traits::input == encoder_input::patches;
    /// The vocabulary (1 for a vision tower, which has none).
    static constexpr index_t vocab = traits::vocab_size > 0 ? traits::vocab_size : 1;
    static constexpr index_t max_positions = traits::max_positions;
    static constexpr bool disentangled = traits::attention == encoder_attention::disentangled;
    static constexpr index_t weight_layers = traits::num_hidden_groups * traits::inner_group_num;
    /// How `load_parameters` stores the projections (`C::weight_storage`, default `f32`).
    static constexpr weight_type weight_storage = detail::config_weights<C>();
    /// DeBERTa v1's fused per-head QKV rows are reordered in `finish_loading`, before packing.
    static constexpr bool transforms_weights_at_load = traits::qkv == qkv_layout::fused_grouped;
    static_assert(!has_sentence_pair || has_pooler,
                  "encoder_model: the sentence-pair head reads the pooler's output");
    static_assert(!reads_tokens || traits::vocab_size > 0, "encoder_model: tokens need a vocab");
    static_assert(num_layers % traits::num_hidden_groups == 0,
                  "encoder_model: num_hidden_layers must be a multiple of num_hidden_groups");
    static_assert(traits::positions == position_embedding::none || max_positions > 0 ||
                      reads_pixels,
                  "encoder_model: position tables need max_position_embeddings");
    static_assert(traits::positions != position_embedding::sinusoidal,
                  "encoder_model: the [sin | cos] float32 table is CTRL's (a decoder); encoders "
                  "use sinusoidal_interleaved");

    // Vision sizes (1 for a token encoder).
    static constexpr index_t patch = reads_pixels ? traits::patch_size : 1;
    static constexpr index_t channels = reads_pixels ? traits::num_channels : 1;
    static constexpr index_t grid = reads_pixels ? traits::image_size / traits::patch_size : 1;
    static constexpr index_t patch_width = channels * patch * patch;
    static_assert(!reads_pixels || (traits::image_size > 0 && traits::image_size % patch == 0),
                  "encoder_model: image_size must be a positive multiple of patch_size");
    /// Rows of the position table: `max_positions`, or one per patch and the CLS token.
    static constexpr index_t position_rows = traits::positions == position_embedding::none ? 0
                                             : reads_pixels ? grid * grid + 1
                                                            : max_positions;

    using rows_type = tensor<float, shape<dyn, hidden>>;
    using projection_type =
        std::conditional_t<traits::qkv == qkv_layout::separate,
                           separate_qkv<hidden, hidden, hidden, traits::qkv_bias>,
                           fused_qkv<hidden, hidden, hidden, true, weight_layout::out_in>>;
    using attention_type = attention_block<hidden, heads, heads, head_dim, projection_type, true>;
    using residual_type = residual_layer<traits::placement, layer_norm_block<hidden>>;

    /// DeBERTa's per-layer projections of the relative embeddings, and their tables.
    struct relative_projections {
        linear<hidden, hidden, traits::pos_key_bias> pos_key;
        linear<hidden, hidden, true> pos_query;
        tensor<float, shape<dyn, hidden>> key_table;   ///< `Kr`, built at load
        tensor<float, shape<dyn, hidden>> query_table; ///< `Qr`, built at load
    };

    /// One weight layer (ALBERT runs each several times).
    struct layer {
        attention_type attention;
        feed_forward<hidden, inner, C::hidden_act, true> ffn;
        residual_type norms;
        [[no_unique_address]] std::conditional_t<disentangled, relative_projections, detail::absent>
            rel;
    };

    /// Everything the forward pass returns; token rows are `batch * length`.
    struct outputs {
        std::vector<rows_type> hidden_states; ///< with `output_hidden_states`: embeddings, layers
        rows_type last_hidden_state;          ///< after the final norm where the family has one
        [[no_unique_address]] std::conditional_t<has_mlm, tensor<float, shape<dyn, vocab>>,
                                                 detail::absent>
            prediction_logits;
        [[no_unique_address]] std::conditional_t<has_pooler, rows_type, detail::absent> pooled;
        [[no_unique_address]] std::conditional_t<has_sentence_pair, tensor<float, shape<dyn, 2>>,
                                                 detail::absent>
            seq_relationship_logits;
        [[no_unique_address]] std::conditional_t<has_discriminator, tensor<float, shape<dyn, 1>>,
                                                 detail::absent>
            token_logits;
    };

    encoder_model()
        : layers_(weight_layers) {
        for (auto& l : layers_) {
            l.norms.norm1.eps = traits::eps;
            l.norms.norm2.eps = traits::eps;
        }
        if constexpr (traits::embedding_norm) {
            embedding_norm_.eps = traits::eps;
        }
        if constexpr (traits::final_norm) {
            final_norm_.eps = traits::eps;
        }
        if constexpr (has_mlm && traits::mlm_transform) {
            mlm_norm_.eps = traits::eps;
        }
        if constexpr (disentangled && traits::norm_rel_ebd) {
            rel_norm_.eps = traits::eps;
        }
        if constexpr (traits::positions == position_embedding::sinusoidal_interleaved) {
            sinusoidal_table(position_embeddings_.view(), sinusoid_layout::interleaved);
        }
        if constexpr (disentangled) {
            rel_embeddings_ = tensor<float, shape<dyn, hidden>>(2 * relative_span());
        }
    }

    /**
     * @brief Encodes `ids` (`[batch, length]`) with the optional inputs of `in`, in one pass
     *        over the whole batch.
     * @throws value_error for an id outside a table; shape_error when a mask or id tensor does
     *         not match `ids`, or the length exceeds `max_position_embeddings`.
     */
    [[nodiscard]] outputs forward(token_ids ids,
                                  const encoder_inputs& in = {}) const requires reads_tokens {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        check_input("token_type_ids", in.token_types, batch, length);
        check_input("langs", in.langs, batch, length);
        if constexpr (traits::type_vocab_size == 0) {
            if (in.token_types != nullptr) {
                throw value_error("encoder_model: token_type_ids given, but this model has no "
                                  "token-type embeddings (type_vocab_size 0)");
            }
        }
        if constexpr (traits::num_langs < 2) {
            if (in.langs != nullptr) {
                throw value_error("encoder_model: langs given, but this model has no language "
                                  "embeddings");
            }
        }
        tensor<float, shape<dyn, embedding_width>> e(batch * length);
        for (index_t b = 0; b < batch; ++b) {
            auto rows = e.view().rows(b * length, length);
            embedding_lookup(token_embeddings_.view(), sequence(ids, b), rows);
            if constexpr (position_rows > 0) {
                if constexpr (traits::numbering == position_numbering::after_padding_idx) {
                    embedding_lookup_add(
                        position_embeddings_.view(),
                        roberta_position_ids(sequence(ids, b), traits::pad_token_id), rows);
                } else {
                    detail::check_at_most(
                        "encoder_model: sequence length and max_position_embeddings differ", length,
                        max_positions);
                    embedding_lookup_add(position_embeddings_.view(), offset_position_ids(length),
                                         rows);
                }
            }
            if constexpr (traits::type_vocab_size > 0) {
                if (in.token_types != nullptr) {
                    embedding_lookup_add(token_type_embeddings_.view(),
                                         sequence(*in.token_types, b), rows);
                } else {
                    embedding_broadcast_add(token_type_embeddings_.view(), 0, rows);
                }
            }
            if constexpr (traits::num_langs > 1) {
                if (in.langs != nullptr) {
                    embedding_lookup_add(lang_embeddings_.view(), sequence(*in.langs, b), rows);
                }
            }
        }
        if constexpr (traits::embedding_norm) {
            embedding_norm_.forward(tensor_view<const float, shape<dyn, embedding_width>>(e.view()),
                                    e.view());
        }
        rows_type x = project_embeddings(e);
        const padding_flags padding(in.attention_mask, batch, length);
        return encode(x, batch, length, padding, in.output_hidden_states);
    }

    /// As above, with the token types and attention mask given directly (BERT's signature).
    [[nodiscard]] outputs
    forward(token_ids ids, const token_ids* token_types,
            const token_ids* attention_mask = nullptr) const requires reads_tokens {
        return forward(ids, encoder_inputs{token_types, attention_mask, nullptr, true});
    }

    /**
     * @brief Encodes images, `[batch, channels, height, width]`: patches, CLS token, positions.
     * @throws shape_error when the channels differ from the config's or the image does not
     *         divide into patches of the config's `image_size`.
     */
    [[nodiscard]] outputs
    forward_pixels(pixel_values pixels,
                   bool output_hidden_states = false) const requires reads_pixels {
        const auto e = pixels.shape().extents();
        const index_t batch = e[0];
        detail::check_dims("pixel_values: channels and num_channels differ", e[1], channels);
        if (e[2] % patch != 0 || e[3] % patch != 0) {
            throw shape_error(
                detail::message("pixel_values: ", std::to_string(e[2]), "x", std::to_string(e[3]),
                                " does not divide into patches of ", std::to_string(patch)));
        }
        detail::check_dims("pixel_values: height and image_size differ", e[2], traits::image_size);
        detail::check_dims("pixel_values: width and image_size differ", e[3], traits::image_size);
        constexpr index_t per_image = grid * grid;
        constexpr index_t length = per_image + 1;
        tensor<float, shape<dyn, patch_width>> unfolded(batch * per_image);
        detail::unfold_patches(pixels, patch, unfolded.view());
        rows_type projected(batch * per_image);
        patch_projection_.forward(
            tensor_view<const float, shape<dyn, patch_width>>(unfolded.view()), projected.view());
        rows_type x(batch * length);
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(cls_token_.data(), hidden, x[b * length].data());
            std::copy_n(projected[b * per_image].data(), per_image * hidden,
                        x[b * length + 1].data());
            embedding_lookup_add(position_embeddings_.view(), offset_position_ids(length),
                                 x.view().rows(b * length, length));
        }
        if constexpr (traits::embedding_norm) {
            embedding_norm_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                                    x.view());
        }
        const padding_flags padding(nullptr, batch, length);
        return encode(x, batch, length, padding, output_hidden_states);
    }

    /**
     * @brief One vector per sequence of `ids`: the first token, the pooler's output or the mean
     *        over real tokens, L2-normalised when `normalize` (LaBSE: `pooling::pooler`).
     */
    [[nodiscard]] rows_type embed(token_ids ids, const token_ids* attention_mask,
                                  pooling how = pooling::mean,
                                  bool normalize = true) const requires reads_tokens {
        return embed(ids, encoder_inputs{nullptr, attention_mask}, how, normalize);
    }

    /// As above, with every input of `in` (token types, languages).
    [[nodiscard]] rows_type embed(token_ids ids, encoder_inputs in, pooling how = pooling::mean,
                                  bool normalize = true) const requires reads_tokens {
        in.output_hidden_states = false;
        const token_ids* attention_mask = in.attention_mask;
        const outputs out = forward(ids, in);
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        rows_type result(batch);
        if (how == pooling::pooler) {
            if constexpr (has_pooler) {
                copy(tensor_view<const float, shape<dyn, hidden>>(out.pooled.view()),
                     result.view());
            } else {
                throw value_error("embed: this model has no pooler (use pooling::cls or mean)");
            }
        } else {
            const padding_flags padding(attention_mask, batch, length);
            for (index_t b = 0; b < batch; ++b) {
                float* r = result[b].data();
                if (how == pooling::cls) {
                    std::copy_n(out.last_hidden_state[b * length].data(), hidden, r);
                    continue;
                }
                std::vector<double> sum(hidden, 0.0);
                index_t count = 0;
                for (index_t t = 0; t < length; ++t) {
                    if (!padding.is_token(b, t)) {
                        continue;
                    }
                    const float* h = out.last_hidden_state[b * length + t].data();
                    for (index_t c = 0; c < hidden; ++c) {
                        sum[c] += h[c];
                    }
                    ++count;
                }
                const double denominator = count == 0 ? 1.0 : static_cast<double>(count);
                for (index_t c = 0; c < hidden; ++c) {
                    r[c] = static_cast<float>(sum[c] / denominator);
                }
            }
        }
        if (normalize) {
            detail::l2_normalize_rows(result.view());
        }
        return result;
    }

    /// Every parameter under the HF names of the family's table (`Spec::names`).
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        constexpr encoder_names n = Spec::names;
        hf_binder<Visitor> b(v, prefix, n.base);
        if constexpr (reads_tokens) {
            b.tensor("", n.embed_tokens, token_embeddings_.view(), 0, "weight");
            if constexpr (traits::type_vocab_size > 0) {
                b.tensor("", n.embed_token_types, token_type_embeddings_.view(), 0, "weight");
            }
            if constexpr (traits::num_langs > 1) {
                b.tensor("", n.embed_langs, lang_embeddings_.view(), 0, "weight");
            }
        } else {
            constexpr auto patch_shape = shape<hidden, channels, patch, patch>{};
            b.tensor("", n.patch_projection, patch_projection_.weight.view().reshape(patch_shape),
                     0, "weight");
            if constexpr (traits::patch_bias) {
                b.tensor("", n.patch_projection, patch_projection_.bias.view(), 0, "bias");
            }
            if constexpr (traits::batched_tables) {
                b.tensor("", n.cls_token, cls_token_.view().reshape(shape<1, 1, hidden>{}));
            } else {
                b.tensor("", n.cls_token, cls_token_.view());
            }
        }
        if constexpr (traits::positions == position_embedding::learned) {
            if constexpr (traits::batched_tables) {
                b.tensor("", n.embed_positions,
                         position_embeddings_.view().reshape(shape<1, position_rows, hidden>{}));
            } else {
                b.tensor("", n.embed_positions, position_embeddings_.view(), 0, "weight");
            }
        } else if constexpr (position_rows > 0) {
            b.ignore("", std::string(n.embed_positions) + ".weight"); // the fixed table
        }
        if constexpr (traits::embedding_norm) {
            b.module("", n.embed_norm, embedding_norm_);
        }
        if constexpr (embedding_width != hidden) {
            b.module("", n.embed_projection, embedding_projection_);
        }
        for (index_t w = 0; w < weight_layers; ++w) {
            visit_layer(b, n, w);
        }
        if constexpr (disentangled) {
            b.tensor("", n.rel_embeddings, rel_embeddings_.view(), 0, "weight");
            if constexpr (traits::norm_rel_ebd) {
                b.module("", n.rel_norm, rel_norm_);
            }
        }
        if constexpr (traits::final_norm) {
            b.module("", n.final_norm, final_norm_);
        }
        if constexpr (has_pooler) {
            b.module("", n.pooler, pooler_.dense);
        }
        if constexpr (has_sentence_pair) {
            b.module("", n.sentence_pair, sentence_pair_);
        }
        if constexpr (has_discriminator) {
            b.module("", n.discriminator_dense, discriminator_dense_);
            b.module("", n.discriminator_prediction, discriminator_prediction_);
        }
        if constexpr (has_mlm) {
            if constexpr (traits::mlm_transform) {
                b.module("", n.mlm_dense, mlm_dense_);
                b.module("", n.mlm_norm, mlm_norm_);
            }
            b.tensor("", n.mlm_bias, mlm_bias_.view());
            if constexpr (traits::tie_word_embeddings) {
                b.ignore("", std::string(n.mlm_decoder) + ".weight");
            } else {
                b.tensor("", n.mlm_decoder, mlm_weight_.view(), 0, "weight");
            }
            if (std::string(n.mlm_bias) != std::string(n.mlm_decoder) + ".bias") {
                b.ignore("", std::string(n.mlm_decoder) + ".bias"); // a copy of `mlm_bias`
            }
        }
        b.ignore("", n.ignored);
    }

    /// Load-time transforms: DeBERTa v1's per-head `in_proj` rows to `[q | k | v]`, and every
    /// layer's projected relative tables `Kr`, `Qr`.
    void finish_loading() {
        if constexpr (traits::qkv == qkv_layout::fused_grouped) {
            const auto source = [](index_t r) {
                return detail::grouped_qkv_source_row(r, heads, heads, head_dim);
            };
            for (auto& l : layers_) {
                detail::permute_rows(l.attention.projection.qkv.weight.data(), 3 * hidden, hidden,
                                     source);
            }
        }
        if constexpr (disentangled) {
            rows_type rel(rel_embeddings_.rows());
            copy(tensor_view<const float, shape<dyn, hidden>>(rel_embeddings_.view()), rel.view());
            if constexpr (traits::norm_rel_ebd) {
                rel_norm_.forward(tensor_view<const float, shape<dyn, hidden>>(rel.view()),
                                  rel.view());
            }
            const tensor_view<const float, shape<dyn, hidden>> r(rel.view());
            for (auto& l : layers_) {
                l.rel.key_table = rows_type(rel.rows());
                l.rel.query_table = rows_type(rel.rows());
                if constexpr (traits::share_att_key) {
                    static_assert(traits::qkv == qkv_layout::separate,
                                  "encoder_model: share_att_key needs separate projections");
                    l.attention.projection.k.forward(r, l.rel.key_table.view());
                    l.attention.projection.q.forward(r, l.rel.query_table.view());
                } else {
                    l.rel.pos_key.forward(r, l.rel.key_table.view());
                    l.rel.pos_query.forward(r, l.rel.query_table.view());
                }
            }
        }
    }

    /// The weight layers, for inspection.
    [[nodiscard]] const std::vector<layer>& layers() const noexcept { return layers_; }

    /// DeBERTa's attention span: `position_buckets` when set, else `max_relative_positions`.
    [[nodiscard]] static constexpr index_t relative_span() noexcept {
        if constexpr (traits::position_buckets > 0) {
            return static_cast<index_t>(traits::position_buckets);
        } else if constexpr (traits::max_relative_positions > 0) {
            return static_cast<index_t>(traits::max_relative_positions);
        } else {
            return max_positions;
        }
    }

private:
    using const_rows = tensor_view<const float, shape<dyn, hidden>>;

    static void check_input(const char* what, const token_ids* t, index_t batch, index_t length) {
        if (t != nullptr) {
            detail::check_dims(detail::message(what, ": rows and batch differ").c_str(), t->rows(),
                               batch);
            detail::check_dims(detail::message(what, ": columns and length differ").c_str(),
                               t->cols(), length);
        }
    }

    rows_type project_embeddings(tensor<float, shape<dyn, embedding_width>>& e) const {
        if constexpr (embedding_width == hidden) {
            return std::move(e);
        } else {
            rows_type x(e.rows());
            embedding_projection_.forward(
                tensor_view<const float, shape<dyn, embedding_width>>(e.view()), x.view());
            return x;
        }
    }

    template <class Binder>
    void visit_layer(Binder& b, const encoder_names& n, index_t w) {
        auto& l = layers_[w];
        // ALBERT names a weight layer by its group `{g}` and its place in the group `{}`.
        const bool grouped = n.layer.find("{g}") != std::string_view::npos;
        const std::string scope_text =
            grouped ? detail::expand_group(n.layer, w / traits::inner_group_num)
                    : std::string(n.layer);
        const std::string_view s = scope_text;
        const index_t i = grouped ? w % traits::inner_group_num : w;
        b.module(s, n.norm1, l.norms.norm1, i);
        b.module(s, n.norm2, l.norms.norm2, i);
        if constexpr (traits::qkv == qkv_layout::separate) {
            b.module(s, n.q, l.attention.projection.q, i);
            b.module(s, n.k, l.attention.projection.k, i);
            b.module(s, n.v, l.attention.projection.v, i);
        } else {
            // A bias-free fused projection whose q and v biases are tensors of their own.
            auto& qkv = l.attention.projection.qkv;
            b.tensor(s, n.qkv, qkv.weight.view(), i, "weight");
            float* bias = qkv.bias.data();
            std::fill_n(bias, 3 * hidden, 0.0f);
            b.tensor(s, n.q_bias, tensor_view<float, shape<hidden>>(bias, {}), i);
            b.tensor(s, n.v_bias, tensor_view<float, shape<hidden>>(bias + 2 * hidden, {}), i);
        }
        b.module(s, n.out, l.attention.out, i);
        b.module(s, n.up, l.ffn.up, i);
        b.module(s, n.down, l.ffn.down, i);
        if constexpr (disentangled && !traits::share_att_key) {
            if constexpr (traits::pos_att_c2p) {
                b.module(s, n.pos_key, l.rel.pos_key, i);
            }
            if constexpr (traits::pos_att_p2c) {
                b.module(s, n.pos_query, l.rel.pos_query, i);
            }
        }
        b.ignore(s, n.layer_ignored, i);
    }

    /// The layers over `x` (`[batch * length, hidden]`), then the heads.
    outputs encode(rows_type& x, index_t batch, index_t length, const padding_flags& padding,
                   bool output_hidden_states) const {
        const index_t n = x.rows();
        outputs out;
        if (output_hidden_states) {
            out.hidden_states.push_back(x);
        }
        rows_type scratch(n);
        tensor<float, shape<dyn, inner>> ffn_scratch(n);
        typename attention_type::workspace ws(n);
        const auto mask_for = [&padding](index_t b) {
            if constexpr (traits::causal) {
                return mask_and(causal_mask{}, padding.mask(b));
            } else {
                return padding.mask(b);
            }
        };
        constexpr index_t layers_per_group = num_layers / traits::num_hidden_groups;
        for (index_t i = 0; i < num_layers; ++i) {
            const index_t group = i / layers_per_group;
            for (index_t j = 0; j < traits::inner_group_num; ++j) {
                const auto& l = layers_[group * traits::inner_group_num + j];
                l.norms.forward(
                    x.view(), scratch.view(), scratch.view(),
                    [&](auto in, auto y, bool acc) {
                        attend(l, in, y, acc, batch, length, mask_for, ws);
                    },
                    [&](auto in, auto y, bool acc) {
                        l.ffn.forward(in, y, acc, ffn_scratch.view());
                    });
            }
            if (output_hidden_states) {
                out.hidden_states.push_back(x);
            }
        }
        if constexpr (traits::final_norm) {
            final_norm_.forward(const_rows(x.view()), x.view());
        }
        heads_on(x, batch, length, out);
        out.last_hidden_state = std::move(x);
        return out;
    }

    template <class In, class Out, class MaskFor>
    void attend(const layer& l, In in, Out y, bool acc, index_t batch, index_t length,
                MaskFor& mask_for, typename attention_type::workspace& ws) const {
        if constexpr (disentangled) {
            constexpr index_t terms = (traits::pos_att_c2p ? 1 : 0) + (traits::pos_att_p2c ? 1 : 0);
            const float scale = deberta_scale(head_dim, terms);
            deberta_bias_options options;
            options.num_heads = heads;
            options.span = relative_span();
            options.position_buckets = traits::position_buckets;
            options.max_relative_positions = traits::max_relative_positions;
            options.c2p = traits::pos_att_c2p;
            options.p2c = traits::pos_att_p2c;
            options.scale = scale;
            const matrix_ref key_table = make_matrix_ref(l.rel.key_table);
            const matrix_ref query_table = make_matrix_ref(l.rel.query_table);
            const auto bias_of = [&](index_t, matrix_ref q, matrix_ref k) {
                return deberta_relative_bias(q, k, key_table, query_table, options);
            };
            l.attention.forward(in, y, acc, batch, length, mask_for, bias_of, no_transform{},
                                no_transform{}, attention_params{}.with_scale(scale), ws);
        } else {
            l.attention.forward(in, y, acc, batch, length, mask_for, no_bias{}, no_transform{},
                                no_transform{}, attention_params{}, ws);
        }
    }

    void heads_on(const rows_type& x, index_t batch, index_t length, outputs& out) const {
        [[maybe_unused]] const const_rows xs(x.view());
        if constexpr (has_pooler) {
            rows_type first(batch);
            for (index_t b = 0; b < batch; ++b) {
                std::copy_n(x[b * length].data(), hidden, first[b].data());
            }
            out.pooled = rows_type(batch);
            detail::forward_each_row(pooler_, const_rows(first.view()), out.pooled.view());
            if constexpr (has_sentence_pair) {
                out.seq_relationship_logits = tensor<float, shape<dyn, 2>>(batch);
                detail::forward_each_row(sentence_pair_, const_rows(out.pooled.view()),
                                         out.seq_relationship_logits.view());
            }
        }
        if constexpr (has_discriminator) {
            rows_type t(x.rows());
            discriminator_dense_.forward(xs, t.view());
            apply_activation<C::hidden_act>(t.view());
            out.token_logits = tensor<float, shape<dyn, 1>>(x.rows());
            discriminator_prediction_.forward(const_rows(t.view()), out.token_logits.view());
        }
        if constexpr (has_mlm) {
            out.prediction_logits = tensor<float, shape<dyn, vocab>>(x.rows());
            const auto& decoder = [&]() -> const auto& {
                if constexpr (traits::tie_word_embeddings) {
                    return token_embeddings_;
                } else {
                    return mlm_weight_;
                }
            }
            ();
            if constexpr (traits::mlm_transform) {
                tensor<float, shape<dyn, embedding_width>> t(x.rows());
                mlm_dense_.forward(xs, t.view());
                apply_activation<traits::mlm_act>(t.view());
                mlm_norm_.forward(tensor_view<const float, shape<dyn, embedding_width>>(t.view()),
                                  t.view());
                matmul_bt(tensor_view<const float, shape<dyn, embedding_width>>(t.view()),
                          decoder.view(), mlm_bias_.view(), out.prediction_logits.view());
            } else {
                static_assert(embedding_width == hidden,
                              "encoder_model: a head without transform needs E = H");
                matmul_bt(xs, decoder.view(), mlm_bias_.view(), out.prediction_logits.view());
            }
        }
    }

    template <bool Has, class T>
    using maybe = std::conditional_t<Has, T, detail::absent>;

    [[no_unique_address]] maybe<reads_tokens, tensor<float, shape<vocab, embedding_width>>>
        token_embeddings_;
    [[no_unique_address]] maybe<
        (position_rows > 0),
        tensor<float, shape<(position_rows > 0 ? position_rows : 1), embedding_width>>>
        position_embeddings_;
    [[no_unique_address]] maybe<
        (traits::type_vocab_size > 0),
        tensor<float,
               shape<(traits::type_vocab_size > 0 ? traits::type_vocab_size : 1), embedding_width>>>
        token_type_embeddings_;
    [[no_unique_address]] maybe<
        (traits::num_langs > 1),
        tensor<float, shape<(traits::num_langs > 1 ? traits::num_langs : 1), embedding_width>>>
        lang_embeddings_;
    [[no_unique_address]] maybe<reads_pixels, linear<patch_width, hidden, traits::patch_bias>>
        patch_projection_;
    [[no_unique_address]] maybe<reads_pixels, tensor<float, shape<hidden>>> cls_token_;
    [[no_unique_address]] maybe<traits::embedding_norm, layer_norm_block<embedding_width>>
        embedding_norm_;
    [[no_unique_address]] maybe<(embedding_width != hidden), linear<embedding_width, hidden>>
        embedding_projection_;
    std::vector<layer> layers_;
    [[no_unique_address]] maybe<disentangled, tensor<float, shape<dyn, hidden>>> rel_embeddings_;
    [[no_unique_address]] maybe<(disentangled && traits::norm_rel_ebd), layer_norm_block<hidden>>
        rel_norm_;
    [[no_unique_address]] maybe<traits::final_norm, layer_norm_block<hidden>> final_norm_;
    [[no_unique_address]] maybe<has_pooler, pooler<hidden>> pooler_;
    [[no_unique_address]] maybe<has_sentence_pair, linear<hidden, 2>> sentence_pair_;
    [[no_unique_address]] maybe<has_discriminator, linear<hidden, hidden>> discriminator_dense_;
    [[no_unique_address]] maybe<has_discriminator, linear<hidden, 1>> discriminator_prediction_;
    [[no_unique_address]] maybe<(has_mlm && traits::mlm_transform), linear<hidden, embedding_width>>
        mlm_dense_;
    [[no_unique_address]] maybe<(has_mlm && traits::mlm_transform),
                                layer_norm_block<embedding_width>>
        mlm_norm_;
    [[no_unique_address]] maybe<has_mlm, tensor<float, shape<vocab>>> mlm_bias_;
    [[no_unique_address]] maybe<(has_mlm && !traits::tie_word_embeddings),
                                tensor<float, shape<vocab, embedding_width>>>
        mlm_weight_;
};

} // namespace ctt
