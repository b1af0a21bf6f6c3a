#pragma once
/**
 * @file
 * @brief Output heads: masked-LM (transform + tied decoder), pooler, next-sentence /
 *        sentence-order and other small classifiers, LM head (tied or not), scalar score.
 */

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/activations.hpp"

namespace ctt {

/**
 * @brief BERT's masked-LM head: `logits = LN(act(dense(x))) E^T + bias`, with `E` the word
 *        embedding table (tied) given at call time.
 */
template <index_t H, index_t V, activation Act, index_t EmbeddingWidth = H>
struct masked_lm_head {
    linear<H, EmbeddingWidth> dense;
    layer_norm_block<EmbeddingWidth> norm;
    tensor<float, shape<V>> bias;

    template <class TX, tensor_shape SX, class TE, tensor_shape SE, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<TE, SE> embeddings,
                 tensor_view<float, SY> logits) const {
        tensor<float, shape<dyn, EmbeddingWidth>> t(x.rows());
        dense.forward(x, t.view());
        apply_activation<Act>(t.view());
        norm.forward(tensor_view<const float, shape<dyn, EmbeddingWidth>>(t.view()), t.view());
        matmul_bt(tensor_view<const float, shape<dyn, EmbeddingWidth>>(t.view()), embeddings,
                  bias.view(), logits);
    }
};

/** @brief The pooler: `tanh(dense(x[first token]))` (BERT, ALBERT). */
template <index_t H>
struct pooler {
    linear<H, H> dense;

    /// `first_tokens` holds one row per sequence.
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> first_tokens, tensor_view<float, SY> pooled) const {
        dense.forward(first_tokens, pooled);
        for (index_t r = 0; r < pooled.rows(); ++r) {
            for (index_t c = 0; c < pooled.cols(); ++c) {
                pooled(r, c) = std::tanh(pooled(r, c));
            }
        }
    }
};

/**
 * @brief A language-model head: `logits = x W^T` with `W` its own `[V, H]` weight or the
 *        input embedding (tied), optionally scaled first (T5 multiplies by `d_model^-0.5` when
 *        tied).
 */
template <index_t H, index_t V, bool Tied>
struct lm_head {
    [[no_unique_address]] std::conditional_t<Tied, detail::absent, tensor<float, shape<V, H>>>
        weight;

    template <class TX, tensor_shape SX, class TE, tensor_shape SE, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<TE, SE> embeddings,
                 tensor_view<float, SY> logits, float scale = 1.f) const {
        const gemm_options options{scale, false};
        if constexpr (Tied) {
            matmul_bt(x, embeddings, logits, options);
        } else {
            matmul_bt(x, weight.view(), logits, options);
        }
    }
};

/**
 * @brief A sequence score: `Labels` logits (one for a reward model) read at one token of each
 *        sequence, as HF's `*ForSequenceClassification` decoders read the last non-pad token.
 */
template <index_t H, index_t Labels>
struct sequence_score_head {
    linear<H, Labels, false> score;

    /// `scores[b] = score(x[rows[b]])` for each sequence b.
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, std::span<const index_t> rows,
                 tensor_view<float, SY> scores) const {
        tensor<float, shape<dyn, H>> picked(rows.size());
        for (index_t b = 0; b < rows.size(); ++b) {
            copy(tensor_view<const float, shape<H>>(x[rows[b]]), picked[b]);
        }
        score.forward(tensor_view<const float, shape<dyn, H>>(picked.view()), scores);
    }
};

/**
 * @brief The position HF's sequence classifiers read: the last token that is not `pad_id`
 *        (`(arange * (ids != pad)).argmax()`; position 0 when every token is padding).
 */
[[nodiscard]] inline index_t last_non_pad_position(std::span<const std::int32_t> ids,
                                                   std::int32_t pad_id) noexcept {
    index_t last = 0;
    for (index_t t = 0; t < ids.size(); ++t) {
        if (ids[t] != pad_id) {
            last = t;
        }
    }
    return last;
}

} // namespace ctt
