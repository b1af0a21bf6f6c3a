#pragma once
/**
 * @file
 * @brief Output heads: masked-LM (transform + tied decoder), pooler, next-sentence /
 *        sentence-order and other small classifiers, LM head (tied or not), scalar score.
 */

#include <cmath>
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

} // namespace ctt
