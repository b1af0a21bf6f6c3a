#pragma once
/**
 * @file
 * @brief ERNIE (THU) (Zhang et al. 2019, arXiv:1905.07129) as thunlp's
 *        `knowledge_bert.BertModel` computes it (names its own): BERT's embeddings and text
 *        layers, then knowledge fusion layers that carry an entity stream beside the tokens.
 *
 * Layers, by `layer_types` (`ernie_layer`):
 * - `sim`: a BERT layer (`BertLayer_simple`): post-LN self-attention, post-LN feed-forward;
 *   the entity stream passes through unchanged.
 * - `mix` (`BertLayerMix`): the text self-attention, then `knowledge_fusion_layer` with the
 *   entity stream masked by `ent_mask`: entities enter without attention of their own.
 * - `norm` (`BertLayer`): also the entities' own post-LN self-attention (`self_ent`,
 *   `entity_heads` heads over `entity_dim`, keys without an entity masked), masked by
 *   `ent_mask`, then the fusion.
 * An entity vector sits at the first token of its mention (`ent_mask` = 1 there).
 *
 * Outputs: every layer's token states and the pooled first token (`tanh(dense(.))`).
 */

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/knowledge_fusion.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"

namespace ctt {

/// The layer kinds of `knowledge_bert` (`layer_types`).
enum class ernie_layer {
    sim,  ///< text only (`BertLayer_simple`)
    mix,  ///< text attention, then fusion with the entity vectors (`BertLayerMix`)
    norm, ///< text and entity attention, then fusion (`BertLayer`)
};

/// What an ERNIE (THU) configuration provides (`BertConfig` with the entity settings).
template <class C>
concept ernie_thu_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;
    { C::hidden_size } -> std::convertible_to<index_t>;
    { C::num_hidden_layers } -> std::convertible_to<index_t>;
    { C::num_attention_heads } -> std::convertible_to<index_t>;
    { C::intermediate_size } -> std::convertible_to<index_t>;
    { C::max_position_embeddings } -> std::convertible_to<index_t>;
    { C::type_vocab_size } -> std::convertible_to<index_t>;
    { C::entity_dim } -> std::convertible_to<index_t>;
    { C::entity_heads } -> std::convertible_to<index_t>;
    { C::hidden_act } -> std::convertible_to<activation>;
    { C::layer_types.size() } -> std::convertible_to<index_t>;
};

/// The inputs of `ernie_thu::forward` beside the token ids; null pointers are absent.
struct knowledge_inputs {
    /// `[batch, length, entity_dim]`: the entity vector at the first token of each mention.
    tensor_view<const float, shape<dyn, dyn, dyn>> entities;
    const token_ids* entity_mask = nullptr; ///< `ent_mask`: 1 where an entity sits (none if absent)
    const token_ids* token_types = nullptr; ///< `token_type_ids` (0 when absent)
    const token_ids* attention_mask = nullptr; ///< 1 = token, 0 = padding
};

/** @brief An ERNIE (THU) encoder. */
template <ernie_thu_config C>
class ernie_thu {
public:
    using config = C;
    using entity_inputs = knowledge_inputs;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t entity_dim = C::entity_dim;
    static constexpr index_t layers = C::num_hidden_layers;
    static constexpr index_t heads = C::num_attention_heads;
    static constexpr index_t entity_heads = C::entity_heads;
    static constexpr index_t inner = C::intermediate_size;
    static_assert(C::layer_types.size() == layers,
                  "ernie_thu: layer_types must name every layer (the generator pads with sim)");
    static_assert(hidden % heads == 0, "ernie_thu: hidden_size must be a multiple of the heads");
    static_assert(entity_dim % entity_heads == 0,
                  "ernie_thu: entity_dim must be a multiple of entity_heads");

    using text_attention = attention_block<hidden, heads, heads, hidden / heads,
                                           separate_qkv<hidden, hidden, hidden, true>>;
    using entity_attention =
        attention_block<entity_dim, entity_heads, entity_heads, entity_dim / entity_heads,
                        separate_qkv<entity_dim, entity_dim, entity_dim, true>>;
    using fusion_type = knowledge_fusion_layer<hidden, entity_dim, inner, C::hidden_act>;

    /// One layer; the parts its kind lacks stay unused (and unnamed).
    struct layer {
        ernie_layer kind = ernie_layer::sim;
        text_attention attention;
        layer_norm_block<hidden> attention_norm;
        feed_forward<hidden, inner, C::hidden_act, true> ff; ///< `sim`
        layer_norm_block<hidden> ff_norm;                    ///< `sim`
        entity_attention entity_self;                        ///< `norm`
        layer_norm_block<entity_dim> entity_norm;            ///< `norm`
        fusion_type fusion;                                  ///< `mix`, `norm`
    };

    /// Every layer's token states (`[batch * length, hidden]` each), the pooled first tokens
    /// and the last entity stream.
    struct outputs {
        std::vector<tensor<float, shape<dyn, hidden>>> encoded_layers;
        tensor<float, shape<dyn, hidden>> pooled;
        tensor<float, shape<dyn, entity_dim>> entities;
    };

    ernie_thu()
        : layers_(layers) {
        embedding_norm_.eps = eps;
        for (index_t i = 0; i < layers; ++i) {
            auto& l = layers_[i];
            l.kind = C::layer_types[i];
            l.attention_norm.eps = l.ff_norm.eps = l.entity_norm.eps = eps;
            l.fusion.set_eps(eps);
        }
    }

    /**
     * @brief Encodes `ids` (`[batch, length]`) with the entity vectors of `in`.
     * @throws shape_error when the inputs disagree in batch, length or entity width.
     */
    [[nodiscard]] outputs forward(token_ids ids, const knowledge_inputs& in) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        const index_t n = batch * length;
        const auto ee = in.entities.shape().extents();
        detail::check_dims("ernie_thu: input_ent batch and batch differ", ee[0], batch);
        detail::check_dims("ernie_thu: input_ent length and length differ", ee[1], length);
        detail::check_dims("ernie_thu: input_ent width and entity_dim differ", ee[2], entity_dim);
        detail::check_at_most("ernie_thu: length and max_position_embeddings differ", length,
                              C::max_position_embeddings);
        const padding_flags tokens(in.attention_mask, batch, length);
        std::vector<std::uint8_t> has_entity(n, 0);
        if (in.entity_mask != nullptr) {
            detail::check_dims("ernie_thu: ent_mask rows and batch differ", in.entity_mask->rows(),
                               batch);
            detail::check_dims("ernie_thu: ent_mask columns and length differ",
                               in.entity_mask->cols(), length);
            for (index_t b = 0; b < batch; ++b) {
                for (index_t t = 0; t < length; ++t) {
                    has_entity[b * length + t] = (*in.entity_mask)(b, t) != 0 ? 1 : 0;
                }
            }
        }
        text_rows x(n);
        const auto positions = offset_position_ids(length);
        for (index_t b = 0; b < batch; ++b) {
            auto rows_b = x.view().rows(b * length, length);
            embedding_lookup(word_embeddings_.view(), sequence(ids, b), rows_b);
            embedding_lookup_add(position_embeddings_.view(), positions, rows_b);
            if (in.token_types != nullptr) {
                embedding_lookup_add(token_type_embeddings_.view(), sequence(*in.token_types, b),
                                     rows_b);
            } else {
                embedding_broadcast_add(token_type_embeddings_.view(), 0, rows_b);
            }
        }
        embedding_norm_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view());
        entity_rows e(n);
        std::copy_n(in.entities.data(), n * entity_dim, e.data());
        entity_rows fused(n);
        tensor<float, shape<dyn, inner>> scratch(n);
        typename text_attention::workspace text_ws(n);
        typename entity_attention::workspace entity_ws(n);
        outputs out{{}, tensor<float, shape<dyn, hidden>>(batch), entity_rows(0)};
        const auto text_mask = [&](index_t b) { return tokens.mask(b); };
        const auto entity_mask = [&](index_t b) {
            return key_padding_mask(
                std::span<const std::uint8_t>(has_entity.data() + b * length, length));
        };
        for (const auto& l : layers_) {
            l.attention.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view(),
                                true, batch, length, text_mask, no_bias{}, no_transform{},
                                no_transform{}, attention_params{}, text_ws);
            l.attention_norm.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                                     x.view());
            if (l.kind == ernie_layer::sim) {
                l.ff.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view(), true,
                             scratch.view());
                l.ff_norm.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view());
            } else {
                if (l.kind == ernie_layer::norm) {
                    l.entity_self.forward(
                        tensor_view<const float, shape<dyn, entity_dim>>(e.view()), e.view(), true,
                        batch, length, entity_mask, no_bias{}, no_transform{}, no_transform{},
                        attention_params{}, entity_ws);
                    l.entity_norm.forward(
                        tensor_view<const float, shape<dyn, entity_dim>>(e.view()), e.view());
                }
                // The entity stream enters the fusion only where an entity sits.
                for (index_t r = 0; r < n; ++r) {
                    if (has_entity[r] != 0) {
                        std::copy_n(e[r].data(), entity_dim, fused[r].data());
                    } else {
                        std::fill_n(fused[r].data(), entity_dim, 0.0f);
                    }
                }
                l.fusion.forward(x.view(), fused.view(), scratch.view());
                std::swap(e, fused);
            }
            out.encoded_layers.push_back(x);
        }
        text_rows first(batch);
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(x[b * length].data(), hidden, first[b].data());
        }
        pooler_.forward(tensor_view<const float, shape<dyn, hidden>>(first.view()),
                        out.pooled.view());
        out.entities = std::move(e);
        return out;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "embeddings.word_embeddings.weight", word_embeddings_.view());
        v.parameter(prefix + "embeddings.position_embeddings.weight", position_embeddings_.view());
        v.parameter(prefix + "embeddings.token_type_embeddings.weight",
                    token_type_embeddings_.view());
        embedding_norm_.visit_parameters(v, prefix + "embeddings.LayerNorm.");
        for (index_t i = 0; i < layers; ++i) {
            auto& l = layers_[i];
            const std::string p = prefix + "encoder.layer." + std::to_string(i) + ".";
            l.attention.projection.q.visit_parameters(v, p + "attention.self.query.");
            l.attention.projection.k.visit_parameters(v, p + "attention.self.key.");
            l.attention.projection.v.visit_parameters(v, p + "attention.self.value.");
            l.attention.out.visit_parameters(v, p + "attention.output.dense.");
            l.attention_norm.visit_parameters(v, p + "attention.output.LayerNorm.");
            if (l.kind == ernie_layer::sim) {
                l.ff.up.visit_parameters(v, p + "intermediate.dense.");
                l.ff.down.visit_parameters(v, p + "output.dense.");
                l.ff_norm.visit_parameters(v, p + "output.LayerNorm.");
                continue;
            }
            if (l.kind == ernie_layer::norm) {
                l.entity_self.projection.q.visit_parameters(v, p + "attention.self_ent.query.");
                l.entity_self.projection.k.visit_parameters(v, p + "attention.self_ent.key.");
                l.entity_self.projection.v.visit_parameters(v, p + "attention.self_ent.value.");
                l.entity_self.out.visit_parameters(v, p + "attention.output_ent.dense.");
                l.entity_norm.visit_parameters(v, p + "attention.output_ent.LayerNorm.");
            }
            l.fusion.token_in.visit_parameters(v, p + "intermediate.dense.");
            l.fusion.entity_in.visit_parameters(v, p + "intermediate.dense_ent.");
            l.fusion.token_out.visit_parameters(v, p + "output.dense.");
            l.fusion.entity_out.visit_parameters(v, p + "output.dense_ent.");
            l.fusion.token_norm.visit_parameters(v, p + "output.LayerNorm.");
            l.fusion.entity_norm.visit_parameters(v, p + "output.LayerNorm_ent.");
        }
        pooler_.dense.visit_parameters(v, prefix + "pooler.dense.");
    }

private:
    static constexpr float eps = 1e-12f; ///< `BertLayerNorm`'s
    using text_rows = tensor<float, shape<dyn, hidden>>;
    using entity_rows = tensor<float, shape<dyn, entity_dim>>;

    tensor<float, shape<C::vocab_size, hidden>> word_embeddings_;
    tensor<float, shape<C::max_position_embeddings, hidden>> position_embeddings_;
    tensor<float, shape<C::type_vocab_size, hidden>> token_type_embeddings_;
    layer_norm_block<hidden> embedding_norm_;
    std::vector<layer> layers_;
    pooler<hidden> pooler_;
};

} // namespace ctt
