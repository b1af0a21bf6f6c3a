#pragma once
/**
 * @file
 * @brief BERT (Devlin et al., arXiv:1810.04805) as HF's `BertModel`, `BertForMaskedLM` and
 *        `BertForPreTraining` compute it: word + learned position + token-type embeddings,
 *        LayerNorm, post-norm layers, and the masked-LM, pooler and next-sentence heads. LaBSE
 *        is this model embedded with `pooling::pooler` and L2 normalisation.
 */

#include <string_view>

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
/// BERT's embedding and layer names under `base`; RoBERTa, ELECTRA and DeBERTa keep them.
constexpr encoder_names bert_layout(std::string_view base) {
    encoder_names n;
    n.base = base;
    n.embed_tokens = "embeddings.word_embeddings";
    n.embed_positions = "embeddings.position_embeddings";
    n.embed_token_types = "embeddings.token_type_embeddings";
    n.embed_norm = "embeddings.LayerNorm";
    n.layer = "encoder.layer.{}.";
    n.norm1 = "attention.output.LayerNorm";
    n.norm2 = "output.LayerNorm";
    n.q = "attention.self.query";
    n.k = "attention.self.key";
    n.v = "attention.self.value";
    n.out = "attention.output.dense";
    n.up = "intermediate.dense";
    n.down = "output.dense";
    n.ignored = "embeddings.position_ids embeddings.token_type_ids";
    return n;
}

struct bert : encoder_spec {
    static constexpr encoder_heads heads =
        encoder_heads::pooler | encoder_heads::masked_lm | encoder_heads::sentence_pair;
    static constexpr encoder_names names = [] {
        encoder_names n = bert_layout("bert.");
        n.pooler = "pooler.dense";
        n.mlm_dense = "^cls.predictions.transform.dense";
        n.mlm_norm = "^cls.predictions.transform.LayerNorm";
        n.mlm_decoder = "^cls.predictions.decoder";
        n.mlm_bias = "^cls.predictions.bias";
        n.sentence_pair = "^cls.seq_relationship";
        return n;
    }();
};
} // namespace families

/// BERT configured by `C` (heads: the config's `heads`, else pre-training's three).
template <encoder_config C>
using bert = encoder_model<C, families::bert>;

} // namespace ctt
