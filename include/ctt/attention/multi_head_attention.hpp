#pragma once
/**
 * @file
 * @brief `multi_head_attention<Hidden, Heads, KvHeads, HeadDim>`: the Q/K/V/O projections
 *        around `attention_heads`, for self-attention, cross-attention and decoding with a KV
 *        cache (Vaswani et al., arXiv:1706.03762; GQA/MQA when `KvHeads < Heads`).
 *
 * Weights use the Hugging Face `nn.Linear` layout `[out, in]`, so every projection is one
 * `matmul_bt`. Q, K and V are stored fused, `[(Heads + 2 KvHeads) HeadDim, Hidden]` (rows: Q,
 * then K, then V), so self-attention projects with one GEMM; `q_weight()`, `k_weight()` and
 * `v_weight()` are views of the fused rows, so separate checkpoints load into them directly.
 * Biases start at zero (a model without projection biases leaves them so).
 */

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/attention_params.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/gemm.hpp"

namespace ctt {

template <index_t Hidden, index_t Heads, index_t KvHeads, index_t HeadDim>
class multi_head_attention {
public:
    static_assert(Heads % KvHeads == 0,
                  "attention: query heads and a multiple of key/value heads differ");
    static constexpr index_t hidden = Hidden;
    static constexpr index_t heads = Heads;
    static constexpr index_t kv_heads = KvHeads;
    static constexpr index_t head_dim = HeadDim;
    static constexpr index_t q_width = Heads * HeadDim;
    static constexpr index_t kv_width = KvHeads * HeadDim;
    static constexpr index_t qkv_width = q_width + 2 * kv_width;

    using cache_type = kv_cache<KvHeads, HeadDim>;
    template <index_t R, index_t C>
    using weight_view = tensor_view<float, shape<R, C>>;
    template <index_t N>
    using bias_view = tensor_view<float, shape<N>>;

    /// Fused `[Q; K; V]` weight, `[qkv_width, Hidden]` (GPT-2's `c_attn` transposed, BLOOM's
    /// `query_key_value` after reordering its per-head interleaving).
    [[nodiscard]] weight_view<qkv_width, Hidden> qkv_weight() noexcept { return wqkv_.view(); }
    [[nodiscard]] weight_view<q_width, Hidden> q_weight() noexcept {
        return wqkv_.view().template rows<q_width>(0);
    }
    [[nodiscard]] weight_view<kv_width, Hidden> k_weight() noexcept {
        return wqkv_.view().template rows<kv_width>(q_width);
    }
    [[nodiscard]] weight_view<kv_width, Hidden> v_weight() noexcept {
        return wqkv_.view().template rows<kv_width>(q_width + kv_width);
    }
    [[nodiscard]] weight_view<Hidden, q_width> o_weight() noexcept { return wo_.view(); }
    [[nodiscard]] bias_view<qkv_width> qkv_bias() noexcept { return bqkv_.view(); }
    [[nodiscard]] bias_view<q_width> q_bias() noexcept {
        return bqkv_.view().template rows<q_width>(0);
    }
    [[nodiscard]] bias_view<kv_width> k_bias() noexcept {
        return bqkv_.view().template rows<kv_width>(q_width);
    }
    [[nodiscard]] bias_view<kv_width> v_bias() noexcept {
        return bqkv_.view().template rows<kv_width>(q_width + kv_width);
    }
    [[nodiscard]] bias_view<Hidden> o_bias() noexcept { return bo_.view(); }

    /**
     * @brief Self-attention of `x [L, Hidden]` into `out [L, Hidden]`. `k_transform` is
     *        applied to each key at its position (query transform inside the kernel).
     */
    template <attention_mask M = no_mask, score_bias B = no_bias, qk_transform QT = no_transform,
              qk_transform KT = no_transform>
    void forward(tensor_view<const float, shape<dyn, Hidden>> x,
                 tensor_view<float, shape<dyn, Hidden>> out, const M& mask = {}, const B& bias = {},
                 const QT& q_transform = {}, const KT& k_transform = {},
                 const attention_params& params = {}) const {
        const index_t l = x.rows();
        detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, l, out.rows());
        tensor<float, shape<dyn, qkv_width>> qkv(l);
        matmul_bt(x, wqkv_.view(), bqkv_.view(), qkv.view());
        if constexpr (!is_no_transform_v<KT>) {
            for (index_t j = 0; j < l; ++j) {
                for (index_t g = 0; g < KvHeads; ++g) {
                    k_transform.apply(j, &qkv(j, q_width + g * HeadDim), HeadDim);
                }
            }
        }
        const auto all = tensor_view<const float, shape<dyn, qkv_width>>(qkv.view());
        attend_and_project(all.template cols<q_width>(0), all.template cols<kv_width>(q_width),
                           all.template cols<kv_width>(q_width + kv_width), out, mask, bias,
                           q_transform, params);
    }

    /**
     * @brief Cross-attention: queries from `x [Lq, Hidden]`, keys and values from
     *        `context [Lk, Hidden]` (an encoder's output). Positions as in `attention_params`.
     */
    template <attention_mask M = no_mask, score_bias B = no_bias>
    void forward_cross(tensor_view<const float, shape<dyn, Hidden>> x,
                       tensor_view<const float, shape<dyn, Hidden>> context,
                       tensor_view<float, shape<dyn, Hidden>> out, const M& mask = {},
                       const B& bias = {}, const attention_params& params = {}) const {
        detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, x.rows(), out.rows());
        tensor<float, shape<dyn, q_width>> q(x.rows());
        tensor<float, shape<dyn, 2 * kv_width>> kv(context.rows());
        const auto w = wqkv_.view();
        const auto b = bqkv_.view();
        matmul_bt(x, w.template rows<q_width>(0), b.template rows<q_width>(0), q.view());
        matmul_bt(context, w.template rows<2 * kv_width>(q_width),
                  b.template rows<2 * kv_width>(q_width), kv.view());
        const auto kvc = tensor_view<const float, shape<dyn, 2 * kv_width>>(kv.view());
        attend_and_project(tensor_view<const float, shape<dyn, q_width>>(q.view()),
                           kvc.template cols<kv_width>(0), kvc.template cols<kv_width>(kv_width),
                           out, mask, bias, no_transform{}, params);
    }

    /**
     * @brief Self-attention of `n` new tokens `x [n, Hidden]` with a KV cache: their keys
     *        (transformed at their absolute positions) and values are appended, then the
     *        queries attend over every cached token (prefill for n > 1, a decode step for
     *        n = 1). Throws `shape_error` when the cache would overflow.
     */
    template <attention_mask M = no_mask, score_bias B = no_bias, qk_transform QT = no_transform,
              qk_transform KT = no_transform>
    void forward_cached(tensor_view<const float, shape<dyn, Hidden>> x, cache_type& cache,
                        tensor_view<float, shape<dyn, Hidden>> out, const M& mask = {},
                        const B& bias = {}, const QT& q_transform = {}, const KT& k_transform = {},
                        const attention_params& params = {}) const {
        const index_t n = x.rows();
        detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, n, out.rows());
        detail::check_at_most(CTT_MSG_KV_CAPACITY, cache.length() + n, cache.capacity());
        tensor<float, shape<dyn, qkv_width>> qkv(n);
        matmul_bt(x, wqkv_.view(), bqkv_.view(), qkv.view());
        const auto all = tensor_view<const float, shape<dyn, qkv_width>>(qkv.view());
        cache.append(all.template cols<kv_width>(q_width),
                     all.template cols<kv_width>(q_width + kv_width), k_transform);
        tensor<float, shape<dyn, q_width>> attn(n);
        attention_heads(all.template cols<q_width>(0), cache, attn.view(), mask, bias, q_transform,
                        params, Heads);
        matmul_bt(tensor_view<const float, shape<dyn, q_width>>(attn.view()), wo_.view(),
                  bo_.view(), out);
    }

private:
    template <class Q, class K, class V, class M, class B, class QT>
    void attend_and_project(const Q& q, const K& k, const V& v,
                            tensor_view<float, shape<dyn, Hidden>> out, const M& mask,
                            const B& bias, const QT& q_transform,
                            const attention_params& params) const {
        tensor<float, shape<dyn, q_width>> attn(q.rows());
        attention_heads<HeadDim>(q, k, v, attn.view(), mask, bias, q_transform, params, Heads,
                                 KvHeads);
        matmul_bt(tensor_view<const float, shape<dyn, q_width>>(attn.view()), wo_.view(),
                  bo_.view(), out);
    }

    tensor<float, shape<qkv_width, Hidden>> wqkv_{};
    tensor<float, shape<qkv_width>> bqkv_{};
    tensor<float, shape<Hidden, q_width>> wo_{};
    tensor<float, shape<Hidden>> bo_{};
};

} // namespace ctt
