#pragma once
/**
 * @file
 * @brief BERT (Devlin et al., arXiv:1810.04805) as HF's `BertForPreTraining` computes it: word +
 *        learned position + token-type embeddings, LayerNorm, post-norm encoder layers, and
 *        the masked-LM, pooler and next-sentence heads.
 */

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"

namespace ctt {

/// What a BERT configuration provides (HF `BertConfig` names in comments).
template <class C>
concept bert_config = requires {
    { C::vocab_size } -> std::convertible_to<index_t>;        // vocab_size
    { C::hidden_size } -> std::convertible_to<index_t>;       // hidden_size
    { C::num_heads } -> std::convertible_to<index_t>;         // num_attention_heads
    { C::intermediate_size } -> std::convertible_to<index_t>; // intermediate_size
    { C::num_layers } -> std::convertible_to<index_t>;        // num_hidden_layers
    { C::max_positions } -> std::convertible_to<index_t>;     // max_position_embeddings
    { C::type_vocab_size } -> std::convertible_to<index_t>;   // type_vocab_size
    { C::hidden_act } -> std::convertible_to<activation>;     // hidden_act
    { C::layer_norm_eps } -> std::convertible_to<float>;      // layer_norm_eps
};

/** @brief BERT with its pre-training heads; weights under HF's `BertForPreTraining` names. */
template <bert_config C>
class bert {
public:
    using config = C;
    static constexpr index_t hidden = C::hidden_size;
    static constexpr index_t heads = C::num_heads;
    static_assert(hidden % heads == 0, "bert: hidden_size must be a multiple of the head count");
    static constexpr index_t head_dim = hidden / heads;
    static constexpr index_t inner = C::intermediate_size;
    static constexpr index_t vocab = C::vocab_size;

    struct layer {
        attention_block<hidden, heads, heads, head_dim, separate_qkv<hidden, hidden, hidden, true>>
            attention;
        feed_forward<hidden, inner, C::hidden_act> ffn;
        residual_layer<norm_placement::post, layer_norm_block<hidden>> norms;
    };

    /// Everything the forward pass returns; rows are `batch * length` tokens.
    struct outputs {
        std::vector<tensor<float, shape<dyn, hidden>>> hidden_states; ///< embeddings, each layer
        tensor<float, shape<dyn, vocab>> prediction_logits;           ///< masked-LM logits
        tensor<float, shape<dyn, 2>> seq_relationship_logits;         ///< one row per sequence
        tensor<float, shape<dyn, hidden>> pooled;                     ///< one row per sequence
    };

    bert()
        : layers_(C::num_layers) {
        for (auto& l : layers_) {
            l.norms.norm1.eps = C::layer_norm_eps;
            l.norms.norm2.eps = C::layer_norm_eps;
        }
        embedding_norm_.eps = C::layer_norm_eps;
        mlm_.norm.eps = C::layer_norm_eps;
    }

    /**
     * @brief Runs the encoder and heads on `ids` (`[batch, length]`), with optional
     *        `token_type_ids` and `attention_mask` of the same shape.
     */
    outputs forward(token_ids ids, const token_ids* token_types = nullptr,
                    const token_ids* attention_mask = nullptr) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        detail::check_at_most("bert: sequence length and max_position_embeddings differ", length,
                              C::max_positions);
        const index_t n = batch * length;
        const padding_flags padding(attention_mask, batch, length);

        tensor<float, shape<dyn, hidden>> x(n);
        const auto positions = offset_position_ids(length);
        for (index_t b = 0; b < batch; ++b) {
            auto rows = x.view().rows(b * length, length);
            embedding_lookup(word_embeddings_.view(), sequence(ids, b), rows);
            embedding_lookup_add(position_embeddings_.view(), positions, rows);
            if (token_types != nullptr) {
                embedding_lookup_add(token_type_embeddings_.view(), sequence(*token_types, b),
                                     rows);
            } else {
                embedding_broadcast_add(token_type_embeddings_.view(), 0, rows);
            }
        }
        embedding_norm_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()), x.view());

        outputs out;
        out.hidden_states.push_back(x);
        tensor<float, shape<dyn, hidden>> scratch(n);
        tensor<float, shape<dyn, inner>> ffn_scratch(n);
        typename decltype(layer::attention)::workspace ws(n);
        const auto mask_for = [&padding](index_t b) { return padding.mask(b); };
        for (const auto& l : layers_) {
            l.norms.forward(
                x.view(), scratch.view(), scratch.view(),
                [&](auto in, auto y, bool acc) {
                    l.attention.forward(in, y, acc, batch, length, mask_for, no_bias{},
                                        no_transform{}, no_transform{}, attention_params{}, ws);
                },
                [&](auto in, auto y, bool acc) { l.ffn.forward(in, y, acc, ffn_scratch.view()); });
            out.hidden_states.push_back(x);
        }

        out.prediction_logits = tensor<float, shape<dyn, vocab>>(n);
        mlm_.forward(tensor_view<const float, shape<dyn, hidden>>(x.view()),
                     word_embeddings_.view(), out.prediction_logits.view());

        tensor<float, shape<dyn, hidden>> first(batch);
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(x[b * length].data(), hidden, first[b].data());
        }
        out.pooled = tensor<float, shape<dyn, hidden>>(batch);
        pooler_.forward(tensor_view<const float, shape<dyn, hidden>>(first.view()),
                        out.pooled.view());
        out.seq_relationship_logits = tensor<float, shape<dyn, 2>>(batch);
        nsp_.forward(tensor_view<const float, shape<dyn, hidden>>(out.pooled.view()),
                     out.seq_relationship_logits.view());
        return out;
    }

    /// HF names of `BertForPreTraining`.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        const std::string e = prefix + "bert.embeddings.";
        v.parameter(e + "word_embeddings.weight", word_embeddings_.view());
        v.parameter(e + "position_embeddings.weight", position_embeddings_.view());
        v.parameter(e + "token_type_embeddings.weight", token_type_embeddings_.view());
        embedding_norm_.visit_parameters(v, e + "LayerNorm.");
        v.ignore(e + "position_ids");
        v.ignore(e + "token_type_ids");
        for (index_t i = 0; i < layers_.size(); ++i) {
            auto& l = layers_[i];
            const std::string p = prefix + "bert.encoder.layer." + std::to_string(i) + ".";
            l.attention.projection.q.visit_parameters(v, p + "attention.self.query.");
            l.attention.projection.k.visit_parameters(v, p + "attention.self.key.");
            l.attention.projection.v.visit_parameters(v, p + "attention.self.value.");
            l.attention.out.visit_parameters(v, p + "attention.output.dense.");
            l.norms.norm1.visit_parameters(v, p + "attention.output.LayerNorm.");
            l.ffn.up.visit_parameters(v, p + "intermediate.dense.");
            l.ffn.down.visit_parameters(v, p + "output.dense.");
            l.norms.norm2.visit_parameters(v, p + "output.LayerNorm.");
        }
        pooler_.dense.visit_parameters(v, prefix + "bert.pooler.dense.");
        mlm_.dense.visit_parameters(v, prefix + "cls.predictions.transform.dense.");
        mlm_.norm.visit_parameters(v, prefix + "cls.predictions.transform.LayerNorm.");
        v.parameter(prefix + "cls.predictions.bias", mlm_.bias.view());
        // The decoder is tied to the word embeddings; checkpoints store the copies too.
        v.ignore(prefix + "cls.predictions.decoder.weight");
        v.ignore(prefix + "cls.predictions.decoder.bias");
        nsp_.visit_parameters(v, prefix + "cls.seq_relationship.");
    }

private:
    tensor<float, shape<vocab, hidden>> word_embeddings_;
    tensor<float, shape<C::max_positions, hidden>> position_embeddings_;
    tensor<float, shape<C::type_vocab_size, hidden>> token_type_embeddings_;
    layer_norm_block<hidden> embedding_norm_;
    std::vector<layer> layers_;
    pooler<hidden> pooler_;
    masked_lm_head<hidden, vocab, C::hidden_act> mlm_;
    linear<hidden, 2> nsp_;
};

} // namespace ctt
