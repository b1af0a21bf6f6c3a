#pragma once
/**
 * @file
 * @brief XLNet (Yang et al. 2019, arXiv:1906.08237) as HF's `XLNetLMHeadModel` computes it with
 *        `attn_type = "bi"`: Transformer-XL's relative attention with per-layer u / v biases and
 *        the relative segment term, segment memory, and two-stream attention for predicting
 *        targets under a permutation.
 *
 * - Content stream `h`: the token embeddings; each layer's relative attention
 *   (`relative_attention_block`: `q`, `k`, `v`, `r`, `o` stored `[d_model, n_head, d_head]`)
 *   over `[memory | segment]`, the sinusoids of the distances `klen .. 1 - qlen` clamped to
 *   `clamp_len`, `r_w_bias` / `r_r_bias`, and with `token_type_ids` the segment term
 *   (`r_s_bias`, `seg_embed`; memory tokens count as type 0, as in HF). Post-LN, then the
 *   feed-forward `layer_1` / `layer_2`, post-LN.
 * - Query stream `g` (with `perm_mask` and `target_mapping`): starts as `mask_emb` per target;
 *   its queries are placed at the positions `target_mapping` names and attend over the content
 *   stream's keys and values under `perm_mask` (`permutation_mask`, which also masks the
 *   content stream, except that a token always sees itself); the same weights and norms.
 * - Memory (`segment_memory`): each layer keeps the last `mem_len` states that entered it
 *   (`mem_len = 0`: all of them, as HF).
 * - Output: `lm_loss`, its weight tied to the word embedding with `tie_word_embeddings`.
 *
 * One difference at the margin: a query-stream row that `perm_mask` hides from every key (and
 * that has no memory) gets zeros here, HF's `-1e30` a uniform average.
 */

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/permutation_mask.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/blocks/relative_attention.hpp"
#include "ctt/blocks/segment_memory.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/sinusoidal.hpp"

namespace ctt {

/// What an XLNet configuration provides (HF's `XLNetConfig`).
template <class C>
concept xlnet_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;
    { C::d_model } -> std::convertible_to<index_t>;
    { C::n_layer } -> std::convertible_to<index_t>;
    { C::n_head } -> std::convertible_to<index_t>;
    { C::d_head } -> std::convertible_to<index_t>;
    { C::d_inner } -> std::convertible_to<index_t>;
    { C::ff_activation } -> std::convertible_to<activation>;
    { C::layer_norm_eps } -> std::convertible_to<float>;
    { C::mem_len } -> std::convertible_to<index_t>;
    { C::clamp_len } -> std::convertible_to<int>;
    { C::tie_word_embeddings } -> std::convertible_to<bool>;
};

/** @brief XLNet's Q, K and V: three bias-free `[d_model, n_head * d_head]` projections. */
template <index_t Hidden, index_t Width>
struct xlnet_projections {
    linear<Hidden, Width, false, weight_layout::in_out> q;
    linear<Hidden, Width, false, weight_layout::in_out> k;
    linear<Hidden, Width, false, weight_layout::in_out> v;

    template <class TX, tensor_shape SX, tensor_shape SQ>
    void project(tensor_view<TX, SX> x, tensor_view<float, SQ> qkv) const {
        q.forward(x, qkv.template cols<Width>(0));
        k.forward(x, qkv.template cols<Width>(Width));
        v.forward(x, qkv.template cols<Width>(2 * Width));
    }
};

/** @brief An XLNet language model (`XLNetLMHeadModel`). */
template <xlnet_config C>
class xlnet {
public:
    using config = C;
    static constexpr index_t hidden = C::d_model;
    static constexpr index_t vocab = C::vocab_size;
    static constexpr index_t heads = C::n_head;
    static constexpr index_t head_dim = C::d_head;
    static constexpr index_t layers = C::n_layer;
    static constexpr index_t width = heads * head_dim;
    static_assert(hidden % 2 == 0, "xlnet: d_model must be even (sine and cosine halves)");

    using memory_type = segment_memory<hidden>;
    using attention_type =
        relative_attention_block<hidden, heads, head_dim, xlnet_projections<hidden, width>,
                                 weight_layout::in_out>;

    /// One `XLNetLayer`: relative attention with its own biases, then the feed-forward.
    struct layer {
        attention_type attention;
        layer_norm_block<hidden> attention_norm;
        feed_forward<hidden, C::d_inner, C::ff_activation, true> ff;
        layer_norm_block<hidden> ff_norm;
        tensor<float, shape<heads, head_dim>> content_bias;  ///< `r_w_bias`
        tensor<float, shape<heads, head_dim>> position_bias; ///< `r_r_bias`
        tensor<float, shape<heads, head_dim>> segment_bias;  ///< `r_s_bias`
        tensor<float, shape<2, width>> segment_embedding;    ///< `seg_embed`
    };

    xlnet()
        : layers_(layers) {
        for (auto& l : layers_) {
            l.attention_norm.eps = C::layer_norm_eps;
            l.ff_norm.eps = C::layer_norm_eps;
        }
    }

    /// An empty memory for `batch` sequences (`mem_len` tokens per layer; 0 keeps all).
    [[nodiscard]] memory_type new_memory(index_t batch) const {
        return memory_type(layers, batch,
                           C::mem_len == 0 ? std::nullopt : std::optional<index_t>(C::mem_len));
    }

    /**
     * @brief Content-stream logits of the segment `ids` (`[batch, length]`), `[batch * length,
     *        vocab]`, attending over `memory`, which then holds this segment too. Every token sees
     *        every other (`attn_type = "bi"`). `token_types` (`[batch, length]`) adds the segment
     *        term; `attention_mask` (`[batch, length]`, 0 = padding) hides padding keys (a token
     *        still sees itself, as in HF).
     */
    [[nodiscard]] tensor<float, shape<dyn, vocab>>
    forward(token_ids ids, memory_type& memory, const token_ids* token_types = nullptr,
            const token_ids* attention_mask = nullptr) const {
        rows h = embed(ids);
        run(ids, memory, token_types, attention_mask, h, nullptr);
        return logits(h);
    }

    /**
     * @brief Query-stream logits of the targets, `[batch * targets, vocab]` (row `b * targets +
     *        m`): `perm_mask` (`[batch, length, length]`, 1 where token i may not see token j)
     *        orders the factorisation, `target_mapping` (`[batch, targets, length]`) places the
     *        targets. The memory then holds this segment too. `token_types` and
     *        `attention_mask` as for `forward`.
     */
    [[nodiscard]] tensor<float, shape<dyn, vocab>>
    forward_two_stream(token_ids ids, tensor_view<const float, shape<dyn, dyn, dyn>> perm_mask,
                       tensor_view<const float, shape<dyn, dyn, dyn>> target_mapping,
                       memory_type& memory, const token_ids* token_types = nullptr,
                       const token_ids* attention_mask = nullptr) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        const auto pe = perm_mask.shape().extents();
        const auto te = target_mapping.shape().extents();
        detail::check_dims("xlnet: perm_mask batch and batch differ", pe[0], batch);
        detail::check_dims("xlnet: perm_mask rows and length differ", pe[1], length);
        detail::check_dims("xlnet: perm_mask columns and length differ", pe[2], length);
        detail::check_dims("xlnet: target_mapping batch and batch differ", te[0], batch);
        detail::check_dims("xlnet: target_mapping columns and length differ", te[2], length);
        const index_t targets = te[1];
        rows h = embed(ids);
        rows g(batch * targets);
        for (index_t r = 0; r < g.rows(); ++r) {
            std::copy_n(mask_embedding_.data(), hidden, g[r].data());
        }
        const query_stream q{perm_mask.data(), target_mapping.data(), targets, &g};
        run(ids, memory, token_types, attention_mask, h, &q);
        return logits(g);
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        const std::string t = prefix + "transformer.";
        v.parameter(t + "word_embedding.weight", word_embedding_.view());
        v.parameter(t + "mask_emb", mask_embedding_.view().reshape(shape<1, 1, hidden>{}));
        constexpr shape<hidden, heads, head_dim> head_major{};
        for (index_t i = 0; i < layers; ++i) {
            auto& ly = layers_[i];
            const std::string p = t + "layer." + std::to_string(i) + ".";
            auto& a = ly.attention;
            v.parameter(p + "rel_attn.q", a.projection.q.weight.view().reshape(head_major));
            v.parameter(p + "rel_attn.k", a.projection.k.weight.view().reshape(head_major));
            v.parameter(p + "rel_attn.v", a.projection.v.weight.view().reshape(head_major));
            v.parameter(p + "rel_attn.r", a.r.weight.view().reshape(head_major));
            v.parameter(p + "rel_attn.o", a.out.weight.view().reshape(head_major));
            v.parameter(p + "rel_attn.r_w_bias", ly.content_bias.view());
            v.parameter(p + "rel_attn.r_r_bias", ly.position_bias.view());
            v.parameter(p + "rel_attn.r_s_bias", ly.segment_bias.view());
            v.parameter(p + "rel_attn.seg_embed",
                        ly.segment_embedding.view().reshape(shape<2, heads, head_dim>{}));
            ly.attention_norm.visit_parameters(v, p + "rel_attn.layer_norm.");
            ly.ff.up.visit_parameters(v, p + "ff.layer_1.");
            ly.ff.down.visit_parameters(v, p + "ff.layer_2.");
            ly.ff_norm.visit_parameters(v, p + "ff.layer_norm.");
        }
        if constexpr (C::tie_word_embeddings) {
            v.ignore(prefix + "lm_loss.weight");
        } else {
            v.parameter(prefix + "lm_loss.weight", output_weight_.view());
        }
        v.parameter(prefix + "lm_loss.bias", output_bias_.view());
    }

private:
    using rows = tensor<float, shape<dyn, hidden>>;

    /// The query stream of a two-stream call.
    struct query_stream {
        const float* perm;    ///< `[batch, length, length]`
        const float* mapping; ///< `[batch, targets, length]`
        index_t targets;
        rows* g;
    };

    [[nodiscard]] rows embed(token_ids ids) const {
        rows h(ids.rows() * ids.cols());
        for (index_t b = 0; b < ids.rows(); ++b) {
            embedding_lookup(word_embedding_.view(), sequence(ids, b),
                             h.view().rows(b * ids.cols(), ids.cols()));
        }
        return h;
    }

    /// Every layer over `h` (and the query stream `q`), updating `memory`.
    void run(token_ids ids, memory_type& memory, const token_ids* token_types,
             const token_ids* attention_mask, rows& h, const query_stream* q) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        detail::check_dims("xlnet: memory batch and batch differ", memory.batch(), batch);
        detail::check_dims("xlnet: memory layers and n_layer differ", memory.layers(), layers);
        if (token_types != nullptr) {
            detail::check_dims("xlnet: token_type_ids rows and batch differ", token_types->rows(),
                               batch);
            detail::check_dims("xlnet: token_type_ids columns and length differ",
                               token_types->cols(), length);
        }
        std::vector<std::uint8_t> token_flags;
        if (attention_mask != nullptr) {
            detail::check_dims("xlnet: attention_mask rows and batch differ",
                               attention_mask->rows(), batch);
            detail::check_dims("xlnet: attention_mask columns and length differ",
                               attention_mask->cols(), length);
            for (index_t b = 0; b < batch; ++b) {
                for (index_t t = 0; t < length; ++t) {
                    token_flags.push_back((*attention_mask)(b, t) != 0 ? 1 : 0);
                }
            }
        }
        if (length == 0) {
            return;
        }
        const index_t mlen = memory.length();
        const index_t klen = mlen + length;
        // Distances klen, klen - 1, ..., 1 - length (HF's `relative_positional_encoding`, "bi").
        rows sinusoids(klen + length);
        xl_relative_positions(sinusoids.view(), static_cast<std::ptrdiff_t>(klen), C::clamp_len);
        tensor<float, shape<dyn, width>> positions(klen + length);
        rows inputs(klen);
        tensor<float, shape<dyn, C::d_inner>> ffn_scratch(batch *
                                                          std::max(length, target_count(q)));
        typename attention_type::workspace ws(klen);
        std::vector<std::int32_t> key_types(klen, 0);
        for (index_t l = 0; l < layers; ++l) {
            const layer& ly = layers_[l];
            ly.attention.project_positions(tensor_view<const float, shape<dyn, hidden>>(sinusoids),
                                           positions.view());
            for (index_t b = 0; b < batch; ++b) {
                auto hb = h.view().rows(b * length, length);
                std::copy_n(memory.states(l, b).data(), mlen * hidden, inputs.data());
                std::copy_n(hb.data(), length * hidden, inputs[mlen].data());
                memory.update(l, b, inputs.view());
                relative_terms terms{{ly.content_bias.data(), width},
                                     {ly.position_bias.data(), width},
                                     make_matrix_ref(positions),
                                     static_cast<std::ptrdiff_t>(klen)};
                relative_segment_terms segments{};
                if (token_types != nullptr) {
                    const auto types = sequence(*token_types, b);
                    std::copy(types.begin(), types.end(), key_types.begin() + mlen);
                    segments = {{ly.segment_bias.data(), width},
                                make_matrix_ref(ly.segment_embedding),
                                types,
                                key_types};
                    terms.segments = &segments;
                }
                const auto keys = tensor_view<const float, shape<dyn, hidden>>(inputs);
                const auto flags =
                    token_flags.empty()
                        ? std::span<const std::uint8_t>{}
                        : std::span<const std::uint8_t>(token_flags.data() + b * length, length);
                if (q == nullptr) {
                    if (flags.empty()) {
                        ly.attention.forward(keys, length, terms, no_mask{}, hb, true, ws);
                    } else {
                        ly.attention.forward(keys, length, terms,
                                             permutation_mask({}, length, mlen, true, flags), hb,
                                             true, ws);
                    }
                    continue;
                }
                const std::span<const float> perm(q->perm + b * length * length, length * length);
                ly.attention.forward(keys, length, terms,
                                     permutation_mask(perm, length, mlen, true, flags), hb, true,
                                     ws);
                auto gb = q->g->view().rows(b * q->targets, q->targets);
                ly.attention.forward_query_stream(
                    tensor_view<const float, shape<dyn, hidden>>(gb),
                    std::span<const float>(q->mapping + b * q->targets * length,
                                           q->targets * length),
                    klen, length, terms, permutation_mask(perm, length, mlen, false, flags), gb,
                    true, ws);
            }
            finish_layer(ly, h, ffn_scratch);
            if (q != nullptr) {
                finish_layer(ly, *q->g, ffn_scratch);
            }
        }
    }

    [[nodiscard]] static index_t target_count(const query_stream* q) noexcept {
        return q == nullptr ? 0 : q->targets;
    }

    /// `x = LN(x + attention)` (the attention already added), then `x = LN(x + ff(x))`.
    static void finish_layer(const layer& ly, rows& x,
                             tensor<float, shape<dyn, C::d_inner>>& ffn_scratch) {
        const auto cx = tensor_view<const float, shape<dyn, hidden>>(x.view());
        ly.attention_norm.forward(cx, x.view());
        ly.ff.forward(cx, x.view(), true, ffn_scratch.view());
        ly.ff_norm.forward(cx, x.view());
    }

    [[nodiscard]] tensor<float, shape<dyn, vocab>> logits(const rows& x) const {
        tensor<float, shape<dyn, vocab>> out(x.rows());
        const auto cx = tensor_view<const float, shape<dyn, hidden>>(x.view());
        if constexpr (C::tie_word_embeddings) {
            matmul_bt(cx, word_embedding_.view(), output_bias_.view(), out.view());
        } else {
            matmul_bt(cx, output_weight_.view(), output_bias_.view(), out.view());
        }
        return out;
    }

    tensor<float, shape<vocab, hidden>> word_embedding_;
    tensor<float, shape<hidden>> mask_embedding_;
    std::vector<layer> layers_;
    [[no_unique_address]] std::conditional_t<C::tie_word_embeddings, detail::absent,
                                             tensor<float, shape<vocab, hidden>>>
        output_weight_;
    tensor<float, shape<vocab>> output_bias_;
};

} // namespace ctt
