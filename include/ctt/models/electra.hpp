#pragma once
/**
 * @file
 * @brief ELECTRA (Clark et al., arXiv:2003.10555) as HF's `ElectraForPreTraining` computes it:
 *        BERT's encoder over embeddings of width `embedding_size` projected to `hidden_size`,
 *        and the replaced-token discriminator (`dense`, `hidden_act`, one logit per token).
 */

#include "ctt/models/bert.hpp"

namespace ctt {

namespace families {
struct electra : encoder_spec {
    static constexpr encoder_heads heads = encoder_heads::discriminator;
    static constexpr encoder_names names = [] {
        encoder_names n = bert_layout("electra.");
        n.embed_projection = "embeddings_project";
        n.discriminator_dense = "^discriminator_predictions.dense";
        n.discriminator_prediction = "^discriminator_predictions.dense_prediction";
        return n;
    }();
};
} // namespace families

template <encoder_config C>
using electra = encoder_model<C, families::electra>;

} // namespace ctt
