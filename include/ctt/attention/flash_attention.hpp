#pragma once
/**
 * @file
 * @brief Flash attention: exact attention computed tile by tile with an online softmax
 *        (Dao et al., arXiv:2205.14135; FlashAttention-2, arXiv:2307.08691), never storing the
 *        `Lq x Lk` score matrix. Masks, score biases and the query transform are policies
 *        evaluated inside the tile loop; hidden tiles are skipped.
 *
 * - `flash_attention`: one head, `q [Lq, D]`, `k`, `v [Lk, D]`, `out [Lq, D]`;
 * - `attention_heads<D>`: every head of `[L, H*D]` projections, with GQA/MQA and OpenMP over
 *   (head, query tile) items, or over a `kv_cache`.
 * A single query (`Lq = 1`) takes the decode path (`decode_attention.hpp`).
 *
 * The kernels flush subnormals to zero while they run (`simd::flush_denormals`, restored on
 * return): a value below 2^-126 changes no sum it joins, but slows every x86 FMA it enters.
 */

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/attention_params.hpp"
#include "ctt/attention/decode_attention.hpp"
#include "ctt/attention/detail/attention_views.hpp"
#include "ctt/attention/detail/flash_kernel.hpp"
#include "ctt/attention/kv_cache.hpp"

namespace ctt {

namespace detail {
/// A bias seen from a single-head call: every call is for head `head` of `inner`.
template <class B>
struct head_shifted_bias {
    const B* inner;
    index_t head;
    void add(index_t, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        inner->add(head, q_pos, k_begin, n, row);
    }
    void add_column(index_t, index_t k_pos, index_t q_begin, index_t n,
                    float* col) const requires column_score_bias<B> {
        inner->add_column(head, k_pos, q_begin, n, col);
    }
};

template <index_t D, weight_type E, class M, class B, class QT>
void attention_dispatch(head_rows<const float> q, const kv_source<E>& kv, head_rows<float> out,
                        index_t lq, index_t n_heads, index_t n_kv_heads, const M& mask,
                        const B& bias, const QT& q_transform, const attention_params& params) {
    const index_t offset = params.offset_for(lq, kv.length);
    const float scale = params.scale_for(D);
    if (lq == 0) {
        return;
    }
    if (lq == 1) {
        decode_heads<D>(q, kv, out, n_heads, n_kv_heads, mask, bias, q_transform, offset, scale,
                        params.decode_chunk);
    } else {
        flash_heads<D>(q, kv, out, lq, n_heads, n_kv_heads, mask, bias, q_transform, offset, scale);
    }
}
} // namespace detail

/**
 * @brief `out = softmax(scale * T_q(q) k^T + bias, masked) v` for one head.
 *
 * `q [Lq, D]`, `k`, `v [Lk, D]`, `out [Lq, D]` may have any row strides (a head of a `[L,
 * H*D]` projection is a column block). Head dimensions must agree at compile time; lengths
 * are checked at run time. K must already be transformed. `head` is passed to the bias.
 * Query row i sits at position `params.offset_for(Lq, Lk) + i`; fully masked rows give zeros.
 */
template <detail::float_matrix_view Q, detail::float_matrix_view K, detail::float_matrix_view V,
          detail::mutable_float_matrix_view O, attention_mask M = no_mask, score_bias B = no_bias,
          qk_transform QT = no_transform>
void flash_attention(const Q& q, const K& k, const V& v, const O& out, const M& mask = {},
                     const B& bias = {}, const QT& q_transform = {},
                     const attention_params& params = {}, index_t head = 0) {
    detail::check_head_operands(q, k, v, out);
    constexpr index_t D = detail::static_cols_v<Q>;
    static_assert(D != dyn, "flash_attention: the head dimension must be a compile-time extent");
    const detail::kv_source<> kv{k.data(), v.data(), k.row_stride(), v.row_stride(),
                                 0,        0,        k.rows()};
    const detail::head_rows<const float> qr{q.data(), q.row_stride(), 0};
    const detail::head_rows<float> outr{out.data(), out.row_stride(), 0};
    if constexpr (is_no_bias_v<B>) {
        detail::attention_dispatch<D>(qr, kv, outr, q.rows(), 1, 1, mask, bias, q_transform,
                                      params);
    } else {
        detail::attention_dispatch<D>(qr, kv, outr, q.rows(), 1, 1, mask,
                                      detail::head_shifted_bias<B>{&bias, head}, q_transform,
                                      params);
    }
}

/**
 * @brief Attention of every head: `q`, `out` are `[Lq, n_heads * D]`, `k`, `v` are
 *        `[Lk, n_kv_heads * D]`, heads as column blocks.
 *
 * Grouped-query and multi-query attention (Ainslie et al., arXiv:2305.13245; Shazeer,
 * arXiv:1911.02150): query head h reads KV head `h / (n_heads / n_kv_heads)`, with no copy of K
 * or V. Work is split over threads as (head, query tile) items; each output row is computed by
 * one item in a fixed order, so results are identical for any thread count.
 */
template <index_t D, detail::float_matrix_view Q, detail::float_matrix_view K,
          detail::float_matrix_view V, detail::mutable_float_matrix_view O,
          attention_mask M = no_mask, score_bias B = no_bias, qk_transform QT = no_transform>
void attention_heads(const Q& q, const K& k, const V& v, const O& out, const M& mask = {},
                     const B& bias = {}, const QT& q_transform = {},
                     const attention_params& params = {}, index_t n_heads = 1,
                     index_t n_kv_heads = 1) {
    const detail::kv_source<> kv = detail::checked_kv_source<D>(q, k, v, out, n_heads, n_kv_heads);
    detail::attention_dispatch<D>({q.data(), q.row_stride(), D}, kv,
                                  {out.data(), out.row_stride(), D}, q.rows(), n_heads, n_kv_heads,
                                  mask, bias, q_transform, params);
}

/**
 * @brief Attention of every head over the tokens of a KV cache (`Lk = cache.length()`): the
 *        prefill of a decoder (`Lq > 1`) or a decode step (`Lq = 1`).
 */
template <index_t KvHeads, index_t D, weight_type E, detail::float_matrix_view Q,
          detail::mutable_float_matrix_view O, attention_mask M = no_mask, score_bias B = no_bias,
          qk_transform QT = no_transform>
void attention_heads(const Q& q, const kv_cache<KvHeads, D, E>& cache, const O& out,
                     const M& mask = {}, const B& bias = {}, const QT& q_transform = {},
                     const attention_params& params = {}, index_t n_heads = KvHeads) {
    detail::check_head_counts(q.cols(), out.cols(), D, n_heads, KvHeads);
    detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), out.rows());
    detail::attention_dispatch<D>({q.data(), q.row_stride(), D}, cache.source(),
                                  {out.data(), out.row_stride(), D}, q.rows(), n_heads, KvHeads,
                                  mask, bias, q_transform, params);
}

} // namespace ctt
