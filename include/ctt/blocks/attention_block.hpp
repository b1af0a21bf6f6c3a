#pragma once
/**
 * @file
 * @brief The attention sub-layer of a transformer: Q/K/V projections (separate or fused), the
 *        fused attention kernel over every head, and the output projection; for full
 *        sequences, for decoding through a KV cache, and for cross-attention.
 */

#include <string>

#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/position/position_concepts.hpp"

namespace ctt {

/**
 * @brief A hook that builds a sequence's score bias from the layer's own projections:
 *        `hook(b, q, k)` with `q` `[length, heads * head_dim]` and `k`
 *        `[length, kv_heads * head_dim]` of sequence `b`, before any Q/K transform, returns a
 *        `score_bias` (DeBERTa's disentangled terms need the projected q and k).
 */
template <class F>
concept projection_bias = requires(const F& f, index_t b, matrix_ref q, matrix_ref k) {
    { f(b, q, k) } -> score_bias;
};

/** @brief Q, K and V as three projections (BERT, LLaMA, T5). Names: `q`, `k`, `v`. */
template <index_t Hidden, index_t QWidth, index_t KvWidth, bool Bias>
struct separate_qkv {
    linear<Hidden, QWidth, Bias> q;
    linear<Hidden, KvWidth, Bias> k;
    linear<Hidden, KvWidth, Bias> v;

    /// Writes `[q | k | v]` into the columns of `qkv`.
    template <class TX, tensor_shape SX, tensor_shape SQ>
    void project(tensor_view<TX, SX> x, tensor_view<float, SQ> qkv) const {
        q.forward(x, qkv.template cols<QWidth>(0));
        k.forward(x, qkv.template cols<KvWidth>(QWidth));
        v.forward(x, qkv.template cols<KvWidth>(QWidth + KvWidth));
    }
};

/** @brief Q, K and V as one projection with output `[q | k | v]` (GPT-2's `c_attn`). */
template <index_t Hidden, index_t QWidth, index_t KvWidth, bool Bias, weight_layout Layout>
struct fused_qkv {
    linear<Hidden, QWidth + 2 * KvWidth, Bias, Layout> qkv;

    template <class TX, tensor_shape SX, tensor_shape SQ>
    void project(tensor_view<TX, SX> x, tensor_view<float, SQ> out) const {
        qkv.forward(x, out);
    }
};

/// Buffers of one attention sub-layer, sized for `rows` tokens.
template <index_t QkvWidth, index_t QWidth>
struct attention_workspace {
    tensor<float, shape<dyn, QkvWidth>> qkv;
    tensor<float, shape<dyn, QWidth>> context;
    explicit attention_workspace(index_t rows)
        : qkv(rows)
        , context(rows) {}
};

/**
 * @brief Multi-head attention with `Heads` query heads and `KvHeads` key/value heads of
 *        `HeadDim` (GQA/MQA when `KvHeads < Heads`), over a model width `Hidden`.
 *
 * `Projection` is `separate_qkv` or `fused_qkv`; `out` is the output projection. Masks, score
 * biases and Q/K transforms are the policies of `attention/attention_concepts.hpp`.
 */
template <index_t Hidden, index_t Heads, index_t KvHeads, index_t HeadDim, class Projection,
          bool OutBias = true, weight_layout OutLayout = weight_layout::out_in>
struct attention_block {
    static constexpr index_t heads = Heads;
    static constexpr index_t kv_heads = KvHeads;
    static constexpr index_t head_dim = HeadDim;
    static constexpr index_t q_width = Heads * HeadDim;
    static constexpr index_t kv_width = KvHeads * HeadDim;
    static constexpr index_t qkv_width = q_width + 2 * kv_width;
    static_assert(Heads % KvHeads == 0, CTT_MSG_ATTENTION_GQA);
    using workspace = attention_workspace<qkv_width, q_width>;
    /// The default (float) cache of `forward_cached`, which takes one of any storage.
    using cache = kv_cache<KvHeads, HeadDim>;

    Projection projection;
    linear<q_width, Hidden, OutBias, OutLayout> out;

    /**
     * @brief Self-attention of `batch` sequences of `length` tokens stacked in `x`
     *        (`[batch * length, Hidden]`); writes or adds (`accumulate`) the result into `y`.
     *
     * `mask_for(b)` gives the mask of sequence `b` (its padding, causal, ...). `bias` is a
     * `score_bias` shared by every sequence, or a `projection_bias` hook that builds the bias of
     * sequence `b` from its projected queries and keys (DeBERTa's c2p/p2c terms). `k_transform`
     * is applied to every key at its position in its sequence.
     */
    template <class TX, tensor_shape SX, tensor_shape SY, class MaskFor, class B, qk_transform QT,
              qk_transform KT>
    requires(score_bias<B> ||
             projection_bias<B>) void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y,
                                              bool accumulate, index_t batch, index_t length,
                                              MaskFor&& mask_for, const B& bias,
                                              const QT& q_transform, const KT& k_transform,
                                              const attention_params& params, workspace& ws) const {
        const index_t n = x.rows();
        detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, n, batch * length);
        auto qkv = ws.qkv.view().rows(0, n);
        auto context = ws.context.view().rows(0, n);
        projection.project(x, qkv);
        if constexpr (!is_no_transform_v<KT>) {
            for (index_t r = 0; r < n; ++r) {
                for (index_t h = 0; h < KvHeads; ++h) {
                    k_transform.apply(r % length, &qkv(r, q_width + h * HeadDim), HeadDim);
                }
            }
        }
        for (index_t b = 0; b < batch; ++b) {
            auto rows = qkv.rows(b * length, length);
            const tensor_view<const float, shape<dyn, q_width>> q(rows.template cols<q_width>(0));
            const tensor_view<const float, shape<dyn, kv_width>> k(
                rows.template cols<kv_width>(q_width));
            const tensor_view<const float, shape<dyn, kv_width>> v(
                rows.template cols<kv_width>(q_width + kv_width));
            const auto run = [&](const auto& sequence_bias) {
                attention_heads<HeadDim>(q, k, v, context.rows(b * length, length), mask_for(b),
                                         sequence_bias, q_transform, params, Heads, KvHeads);
            };
            if constexpr (score_bias<B>) {
                run(bias);
            } else {
                run(bias(b, make_matrix_ref(q), make_matrix_ref(k)));
            }
        }
        out.forward(tensor_view<const float, shape<dyn, q_width>>(context), y, accumulate);
    }

    /**
     * @brief Self-attention of the newest `x.rows()` tokens of one sequence through its KV
     *        cache: their keys and values are appended (keys transformed at their absolute
     *        positions), then every new query attends over the whole cache.
     */
    template <class TX, tensor_shape SX, tensor_shape SY, weight_type S, attention_mask M,
              score_bias B, qk_transform QT, qk_transform KT>
    void forward_cached(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate,
                        kv_cache<KvHeads, HeadDim, S>& kv, const M& mask, const B& bias,
                        const QT& q_transform, const KT& k_transform,
                        const attention_params& params, workspace& ws) const {
        const index_t n = x.rows();
        auto qkv = ws.qkv.view().rows(0, n);
        auto context = ws.context.view().rows(0, n);
        projection.project(x, qkv);
        kv.append(
            tensor_view<const float, shape<dyn, kv_width>>(qkv.template cols<kv_width>(q_width)),
            tensor_view<const float, shape<dyn, kv_width>>(
                qkv.template cols<kv_width>(q_width + kv_width)),
            k_transform);
        attention_heads(
            tensor_view<const float, shape<dyn, q_width>>(qkv.template cols<q_width>(0)), kv,
            context, mask, bias, q_transform, params, Heads);
        out.forward(tensor_view<const float, shape<dyn, q_width>>(context), y, accumulate);
    }
};

/**
 * @brief Cross-attention: queries from the decoder, keys and values from another sequence
 *        (the encoder's output, image tokens). Names: `q`, `k`, `v`, `out`.
 *
 * Keys and values are projected once into a `kv_cache` (`prepare`), then every decoder step
 * attends over it (`forward`).
 */
template <index_t Hidden, index_t Heads, index_t HeadDim, bool Bias = true,
          index_t MemoryWidth = Hidden>
struct cross_attention_block {
    static constexpr index_t q_width = Heads * HeadDim;
    using cache = kv_cache<Heads, HeadDim>;

    linear<Hidden, q_width, Bias> q;
    linear<MemoryWidth, q_width, Bias> k;
    linear<MemoryWidth, q_width, Bias> v;
    linear<q_width, Hidden, Bias> out;

    /// Projects `memory` (`[Lm, MemoryWidth]`) into `kv`, which is reset first.
    template <class TM, tensor_shape SM, weight_type S>
    void prepare(tensor_view<TM, SM> memory, kv_cache<Heads, HeadDim, S>& kv) const {
        tensor<float, shape<dyn, q_width>> keys(memory.rows());
        tensor<float, shape<dyn, q_width>> values(memory.rows());
        k.forward(memory, keys.view());
        v.forward(memory, values.view());
        kv.reset();
        kv.append(keys.view(), values.view());
    }

    /// `y (+)= out(attention(q(x), memory))`; `mask` sees key positions of the memory.
    template <class TX, tensor_shape SX, tensor_shape SY, weight_type S, attention_mask M,
              score_bias B>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate,
                 const kv_cache<Heads, HeadDim, S>& kv, const M& mask, const B& bias,
                 const attention_params& params, tensor_view<float, shape<dyn, q_width>> q_buffer,
                 tensor_view<float, shape<dyn, q_width>> context) const {
        const index_t n = x.rows();
        auto qb = q_buffer.rows(0, n);
        auto ctx = context.rows(0, n);
        q.forward(x, qb);
        // Every query sees the whole memory: position the queries after its last key.
        attention_heads(tensor_view<const float, shape<dyn, q_width>>(qb), kv, ctx, mask, bias,
                        no_transform{}, params.with_q_offset(kv.length()), Heads);
        out.forward(tensor_view<const float, shape<dyn, q_width>>(ctx), y, accumulate);
    }
};

} // namespace ctt
