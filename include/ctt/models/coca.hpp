#pragma once
/**
 * @file
 * @brief CoCa (Yu et al., arXiv:2205.01917) as open_clip's `CoCa` computes it (names its own):
 *        a ViT image encoder whose tokens an attentional pooler condenses, a causal text tower
 *        with a CLS token appended, and a multimodal text decoder whose layers cross-attend to
 *        the pooled image tokens.
 *
 * - Image: patches (a bias-free convolution), a class token, learned positions, `ln_pre`,
 *   pre-LN blocks; then `attn_pool` (`attentional_pooler`, `attn_pooler_queries` queries),
 *   `ln_post`. The first pooled token, times `proj`, is the image embedding; the others are the
 *   tokens the decoder reads (open_clip's original CoCa pooling).
 * - Text: tokens, the CLS embedding appended, positions, pre-LN blocks under a causal mask and
 *   open_clip's pad mask; the last position, after `ln_final`, times `text_projection`, is the
 *   text embedding; the others are the decoder's input.
 * - Decoder: per layer a causal self-attention block, then a cross-attention block (`ln_1` on
 *   the text, `ln_1_kv` on the image tokens, packed projections) with its own MLP; `ln_final`
 *   and `text_projection` give the caption logits.
 * - Both embeddings are L2-normalised.
 */

#include <cstdint>
#include <string>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/attentional_pooler.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/models/encoder_model.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"

namespace ctt {

/// What a CoCa configuration provides (open_clip's `CLIPVisionCfg`, `CLIPTextCfg`,
/// `MultimodalCfg` under `vision`, `text`, `multimodal`).
template <class C>
concept coca_config = requires {
    { C::embed_dim } -> std::convertible_to<index_t>;
    { C::hidden_act } -> std::convertible_to<activation>;
    { C::norm_eps } -> std::convertible_to<float>;
    { C::vision::image_size } -> std::convertible_to<index_t>;
    { C::vision::patch_size } -> std::convertible_to<index_t>;
    { C::vision::width } -> std::convertible_to<index_t>;
    { C::vision::layers } -> std::convertible_to<index_t>;
    { C::vision::heads } -> std::convertible_to<index_t>;
    { C::vision::intermediate_size } -> std::convertible_to<index_t>;
    { C::vision::pooler_queries } -> std::convertible_to<index_t>;
    { C::vision::pooler_heads } -> std::convertible_to<index_t>;
    { C::text::vocab_size } -> std::convertible_to<index_t>;
    { C::text::context_length } -> std::convertible_to<index_t>;
    { C::text::width } -> std::convertible_to<index_t>;
    { C::text::layers } -> std::convertible_to<index_t>;
    { C::text::heads } -> std::convertible_to<index_t>;
    { C::text::intermediate_size } -> std::convertible_to<index_t>;
    { C::text::pad_id } -> std::convertible_to<int>;
    { C::multimodal::context_length } -> std::convertible_to<index_t>;
    { C::multimodal::layers } -> std::convertible_to<index_t>;
    { C::multimodal::heads } -> std::convertible_to<index_t>;
    { C::multimodal::intermediate_size } -> std::convertible_to<index_t>;
};

/**
 * @brief open_clip's pre-LN residual block: `x += attn(ln_1(x))`, `x += mlp(ln_2(x))`, with
 *        PyTorch's packed `in_proj`. Names: `ln_1.`, `attn.in_proj_*`, `attn.out_proj.`, `ln_2.`,
 *        `mlp.c_fc.`, `mlp.c_proj.`.
 */
template <index_t Width, index_t Heads, index_t Inner, activation Act>
struct open_clip_block {
    using attention_type =
        attention_block<Width, Heads, Heads, Width / Heads,
                        fused_qkv<Width, Width, Width, true, weight_layout::out_in>, true>;
    residual_layer<norm_placement::pre, layer_norm_block<Width>> norms;
    attention_type attention;
    feed_forward<Width, Inner, Act, true> mlp;

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& p) {
        norms.norm1.visit_parameters(v, p + "ln_1.");
        attention.projection.qkv.visit_parameters(v, p + "attn.in_proj_");
        attention.out.visit_parameters(v, p + "attn.out_proj.");
        norms.norm2.visit_parameters(v, p + "ln_2.");
        mlp.up.visit_parameters(v, p + "mlp.c_fc.");
        mlp.down.visit_parameters(v, p + "mlp.c_proj.");
    }
};

/** @brief A CoCa model: image and text embeddings and caption logits. */
template <coca_config C>
class coca {
    using V = typename C::vision;
    using T = typename C::text;
    using M = typename C::multimodal;

public:
    using config = C;
    static constexpr index_t embed = C::embed_dim;
    static constexpr index_t hidden = T::width; ///< the text decoder's width
    static constexpr index_t vocab = T::vocab_size;
    static constexpr index_t vision_width = V::width;
    static constexpr index_t patch = V::patch_size;
    static constexpr index_t grid = V::image_size / V::patch_size;
    static constexpr index_t image_tokens = V::pooler_queries - 1;
    static constexpr bool correct_cls_mask = [] {
        if constexpr (requires { T::correct_cls_mask; }) {
            return static_cast<bool>(T::correct_cls_mask);
        } else {
            return false;
        }
    }();
    static_assert(V::image_size % V::patch_size == 0,
                  "coca: image_size must be a multiple of patch_size");
    static_assert(V::pooler_queries >= 2, "coca: the pooler needs the embedding query and tokens");
    static_assert(embed == hidden,
                  "coca: the pooled image tokens (embed_dim) feed the decoder (its width)");

    using vision_block = open_clip_block<V::width, V::heads, V::intermediate_size, C::hidden_act>;
    using text_block = open_clip_block<T::width, T::heads, T::intermediate_size, C::hidden_act>;
    using decoder_block = open_clip_block<T::width, M::heads, M::intermediate_size, C::hidden_act>;

    /// A decoder layer's cross-attention block: `ln_1` (text), `ln_1_kv` (image), `attn`, MLP.
    struct cross_block {
        layer_norm_block<hidden> ln_1, ln_1_kv, ln_2;
        packed_attention<hidden, M::heads> attn;
        feed_forward<hidden, M::intermediate_size, C::hidden_act, true> mlp;
    };

    /// `[batch, embed]` embeddings and `[batch * length, vocab]` caption logits.
    struct outputs {
        tensor<float, shape<dyn, embed>> image_features;
        tensor<float, shape<dyn, embed>> text_features;
        tensor<float, shape<dyn, vocab>> logits;
    };

    /// The image side: L2-normalised embeddings and the pooled tokens the decoder reads.
    struct image_encoding {
        tensor<float, shape<dyn, embed>> features;
        tensor<float, shape<dyn, embed>> tokens; ///< `[batch * image_tokens, embed]`
    };

    coca()
        : vision_blocks_(V::layers)
        , text_blocks_(T::layers)
        , decoder_blocks_(M::layers)
        , cross_blocks_(M::layers) {
        for (auto* n : {&ln_pre_.eps, &pooler_.ln_k.eps}) {
            *n = C::norm_eps;
        }
        for (auto* n : {&ln_post_.eps, &pooler_.ln_q.eps, &text_final_.eps, &decoder_final_.eps}) {
            *n = C::norm_eps;
        }
        const auto set = [](auto& blocks) {
            for (auto& b : blocks) {
                b.norms.norm1.eps = C::norm_eps;
                b.norms.norm2.eps = C::norm_eps;
            }
        };
        set(vision_blocks_);
        set(text_blocks_);
        set(decoder_blocks_);
        for (auto& b : cross_blocks_) {
            b.ln_1.eps = b.ln_1_kv.eps = b.ln_2.eps = C::norm_eps;
        }
    }

    /// Images `[batch, 3, image_size, image_size]`: embeddings and decoder tokens.
    [[nodiscard]] image_encoding image_features(pixel_values pixels) const {
        const auto e = pixels.shape().extents();
        const index_t batch = e[0];
        detail::check_dims("pixel_values: channels and 3 differ", e[1], 3);
        detail::check_dims("pixel_values: height and image_size differ", e[2], V::image_size);
        detail::check_dims("pixel_values: width and image_size differ", e[3], V::image_size);
        constexpr index_t per_image = grid * grid;
        constexpr index_t length = per_image + 1;
        tensor<float, shape<dyn, 3 * patch * patch>> unfolded(batch * per_image);
        detail::unfold_patches(pixels, patch, unfolded.view());
        vision_rows projected(batch * per_image);
        matmul_bt(tensor_view<const float, shape<dyn, 3 * patch * patch>>(unfolded.view()),
                  patch_weight_.view(), projected.view());
        vision_rows x(batch * length);
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(class_embedding_.data(), vision_width, x[b * length].data());
            std::copy_n(projected[b * per_image].data(), per_image * vision_width,
                        x[b * length + 1].data());
            embedding_lookup_add(vision_positions_.view(), offset_position_ids(length),
                                 x.view().rows(b * length, length));
        }
        ln_pre_.forward(tensor_view<const float, shape<dyn, vision_width>>(x.view()), x.view());
        run_blocks(vision_blocks_, x, batch, length, [](index_t) { return no_mask{}; });
        image_encoding out{tensor<float, shape<dyn, embed>>(batch),
                           tensor<float, shape<dyn, embed>>(batch * image_tokens)};
        tensor<float, shape<dyn, embed>> pooled(V::pooler_queries);
        for (index_t b = 0; b < batch; ++b) {
            pooler_.forward(tensor_view<const float, shape<dyn, vision_width>>(
                                x.view().rows(b * length, length)),
                            pooled.view());
            ln_post_.forward(tensor_view<const float, shape<dyn, embed>>(pooled.view()),
                             pooled.view());
            matmul(tensor_view<const float, shape<dyn, embed>>(pooled.view().rows(0, 1)),
                   image_projection_.view(), out.features.view().rows(b, 1));
            std::copy_n(pooled[1].data(), image_tokens * embed,
                        out.tokens[b * image_tokens].data());
        }
        detail::l2_normalize_rows(out.features.view());
        return out;
    }

    /// Text `[batch, length]` (at most `context_length`): its embedding, and the decoder's logits
    /// over the image tokens of `image`.
    [[nodiscard]] outputs forward(token_ids ids, pixel_values pixels) const {
        auto image = image_features(pixels);
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        detail::check_dims("coca: text and image batches differ", batch, image.features.rows());
        detail::check_at_most("coca: text length and context_length differ", length,
                              T::context_length);
        detail::check_at_most("coca: text length and the decoder's context_length differ", length,
                              M::context_length);
        if (length == 0) {
            throw value_error("coca: the text is empty");
        }
        // Tokens, then the CLS embedding; positions over both.
        const index_t with_cls = length + 1;
        text_rows x(batch * with_cls);
        std::vector<std::uint8_t> keys;
        for (index_t b = 0; b < batch; ++b) {
            auto rows_b = x.view().rows(b * with_cls, with_cls);
            embedding_lookup(token_embedding_.view(), sequence(ids, b), rows_b.rows(0, length));
            std::copy_n(cls_embedding_.data(), hidden, rows_b[length].data());
            embedding_lookup_add(text_positions_.view(), offset_position_ids(with_cls), rows_b);
            const auto flags = text_key_flags(sequence(ids, b));
            keys.insert(keys.end(), flags.begin(), flags.end());
        }
        run_blocks(text_blocks_, x, batch, with_cls, [&](index_t b) {
            return mask_and(causal_mask{}, key_padding_mask(std::span<const std::uint8_t>(
                                               keys.data() + b * with_cls, with_cls)));
        });
        outputs out{std::move(image.features), tensor<float, shape<dyn, embed>>(batch),
                    tensor<float, shape<dyn, vocab>>(batch * length)};
        text_rows tokens(batch * length);
        for (index_t b = 0; b < batch; ++b) {
            auto cls = x.view().rows(b * with_cls + length, 1);
            text_final_.forward(tensor_view<const float, shape<dyn, hidden>>(cls), cls);
            matmul(tensor_view<const float, shape<dyn, hidden>>(cls), text_projection_.view(),
                   out.text_features.view().rows(b, 1));
            std::copy_n(x[b * with_cls].data(), length * hidden, tokens[b * length].data());
        }
        detail::l2_normalize_rows(out.text_features.view());
        decode(tokens, image.tokens, batch, length, out.logits);
        return out;
    }

    /**
     * @brief Which of the `length + 1` text keys (tokens, then CLS) every query may see, besides
     *        the causal order: open_clip's pad mask. The CLS slot is valid; in open_clip's legacy
     *        layout (the default, as CoCa's weights were trained, `correct_cls_mask` false) the
     *        flags sit one place late: key 0 is always valid and key j reads token j - 1.
     */
    [[nodiscard]] static std::vector<std::uint8_t>
    text_key_flags(std::span<const std::int32_t> ids) {
        const index_t length = ids.size();
        std::vector<std::uint8_t> keys(length + 1, 1);
        for (index_t t = 0; t < length; ++t) {
            keys[correct_cls_mask ? t : t + 1] = ids[t] != T::pad_id ? 1 : 0;
        }
        keys[correct_cls_mask ? length : 0] = 1;
        return keys;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        const std::string vis = prefix + "visual.";
        v.parameter(vis + "conv1.weight",
                    patch_weight_.view().reshape(shape<vision_width, 3, patch, patch>{}));
        v.parameter(vis + "class_embedding", class_embedding_.view());
        v.parameter(vis + "positional_embedding", vision_positions_.view());
        ln_pre_.visit_parameters(v, vis + "ln_pre.");
        for (index_t i = 0; i < V::layers; ++i) {
            vision_blocks_[i].visit_parameters(v, vis + "transformer.resblocks." +
                                                      std::to_string(i) + ".");
        }
        pooler_.visit_parameters(v, vis + "attn_pool.");
        ln_post_.visit_parameters(v, vis + "ln_post.");
        v.parameter(vis + "proj", image_projection_.view());
        const std::string txt = prefix + "text.";
        v.parameter(txt + "token_embedding.weight", token_embedding_.view());
        v.parameter(txt + "cls_emb", cls_embedding_.view());
        v.parameter(txt + "positional_embedding", text_positions_.view());
        for (index_t i = 0; i < T::layers; ++i) {
            text_blocks_[i].visit_parameters(v, txt + "transformer.resblocks." + std::to_string(i) +
                                                    ".");
        }
        text_final_.visit_parameters(v, txt + "ln_final.");
        v.parameter(txt + "text_projection", text_projection_.view());
        const std::string dec = prefix + "text_decoder.";
        for (index_t i = 0; i < M::layers; ++i) {
            decoder_blocks_[i].visit_parameters(v, dec + "resblocks." + std::to_string(i) + ".");
            auto& c = cross_blocks_[i];
            const std::string p = dec + "cross_attn." + std::to_string(i) + ".";
            c.ln_1.visit_parameters(v, p + "ln_1.");
            c.ln_1_kv.visit_parameters(v, p + "ln_1_kv.");
            c.attn.visit_parameters(v, p + "attn.");
            c.ln_2.visit_parameters(v, p + "ln_2.");
            c.mlp.up.visit_parameters(v, p + "mlp.c_fc.");
            c.mlp.down.visit_parameters(v, p + "mlp.c_proj.");
        }
        decoder_final_.visit_parameters(v, dec + "ln_final.");
        v.parameter(dec + "text_projection", decoder_projection_.view());
        v.ignore(prefix + "logit_scale");
    }

    /// The pooler's learned queries, normalised and projected once.
    void finish_loading() { pooler_.finish_loading(); }

private:
    using vision_rows = tensor<float, shape<dyn, vision_width>>;
    using text_rows = tensor<float, shape<dyn, hidden>>;

    /// Pre-LN blocks over `batch` sequences of `length` stacked in `x`.
    template <class Blocks, class Rows, class MaskFor>
    static void run_blocks(const Blocks& blocks, Rows& x, index_t batch, index_t length,
                           MaskFor&& mask_for) {
        using block = typename Blocks::value_type;
        const index_t n = x.rows();
        Rows scratch(n);
        tensor<float, shape<dyn, decltype(block::mlp)::inner>> ffn_scratch(n);
        typename block::attention_type::workspace ws(n);
        for (const auto& b : blocks) {
            b.norms.forward(
                x.view(), scratch.view(), scratch.view(),
                [&](auto in, auto y, bool acc) {
                    b.attention.forward(in, y, acc, batch, length, mask_for, no_bias{},
                                        no_transform{}, no_transform{}, attention_params{}, ws);
                },
                [&](auto in, auto y, bool acc) { b.mlp.forward(in, y, acc, ffn_scratch.view()); });
        }
    }

    /// The multimodal decoder over the text tokens, cross-attending to each row's image tokens.
    void decode(text_rows& x, const tensor<float, shape<dyn, embed>>& tokens, index_t batch,
                index_t length, tensor<float, shape<dyn, vocab>>& logits) const {
        const index_t n = x.rows();
        text_rows normed(n);
        text_rows q(n);
        text_rows context(n);
        tensor<float, shape<dyn, M::intermediate_size>> ffn_scratch(n);
        text_rows memory(tokens.rows());
        for (index_t i = 0; i < M::layers; ++i) {
            run_blocks(std::span(&decoder_blocks_[i], 1), x, batch, length,
                       [](index_t) { return causal_mask{}; });
            const auto& c = cross_blocks_[i];
            c.ln_1.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), normed.view());
            c.ln_1_kv.forward(tensor_view<const float, shape<dyn, hidden>>(tokens.view()),
                              memory.view());
            for (index_t b = 0; b < batch; ++b) {
                typename packed_attention<hidden, M::heads>::cache cache(coca::image_tokens);
                c.attn.prepare(tensor_view<const float, shape<dyn, hidden>>(
                                   memory.view().rows(b * coca::image_tokens, coca::image_tokens)),
                               cache);
                c.attn.forward(tensor_view<const float, shape<dyn, hidden>>(
                                   normed.view().rows(b * length, length)),
                               x.view().rows(b * length, length), true, cache, no_mask{},
                               attention_params{}, q.view(), context.view());
            }
            c.ln_2.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), normed.view());
            c.mlp.forward(tensor_view<const float, shape<dyn, hidden>>(normed.view()), x.view(),
                          true, ffn_scratch.view());
        }
        decoder_final_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view());
        matmul(tensor_view<const float, shape<dyn, hidden>>(x.view()), decoder_projection_.view(),
               logits.view());
    }

    // Image tower.
    tensor<float, shape<vision_width, 3 * patch * patch>> patch_weight_;
    tensor<float, shape<vision_width>> class_embedding_;
    tensor<float, shape<grid * grid + 1, vision_width>> vision_positions_;
    layer_norm_block<vision_width> ln_pre_;
    std::vector<vision_block> vision_blocks_;
    attentional_pooler<embed, V::pooler_heads, V::pooler_queries, vision_width> pooler_;
    layer_norm_block<embed> ln_post_;
    tensor<float, shape<embed, embed>> image_projection_; ///< `[in, out]`: `x @ proj`
    // Text tower.
    tensor<float, shape<vocab, hidden>> token_embedding_;
    tensor<float, shape<hidden>> cls_embedding_;
    tensor<float, shape<T::context_length + 1, hidden>> text_positions_;
    std::vector<text_block> text_blocks_;
    layer_norm_block<hidden> text_final_;
    tensor<float, shape<hidden, embed>> text_projection_;
    // Multimodal decoder.
    std::vector<decoder_block> decoder_blocks_;
    std::vector<cross_block> cross_blocks_;
    layer_norm_block<hidden> decoder_final_;
    tensor<float, shape<hidden, vocab>> decoder_projection_;
};

} // namespace ctt
