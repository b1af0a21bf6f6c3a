#pragma once
/**
 * @file
 * @brief Attention of one new token (`Lq = 1`) over a KV cache: the decode step of a
 *        decoder. Reads every cached key and value once, shares that read among the query
 *        heads of a GQA group, and splits long caches into chunks over threads with a
 *        deterministic merge.
 */

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/attention_params.hpp"
#include "ctt/attention/detail/attention_views.hpp"
#include "ctt/attention/detail/decode_kernel.hpp"
#include "ctt/attention/kv_cache.hpp"

namespace ctt {

namespace detail {
/// Checks the head counts of a multi-head call (`q` is `[Lq, n_heads * D]`).
inline void check_head_counts(index_t q_width, index_t out_width, index_t head_dim, index_t n_heads,
                              index_t n_kv_heads) {
    check_dims(CTT_MSG_ATTENTION_HEAD_DIM, q_width, n_heads * head_dim);
    check_dims(CTT_MSG_ATTENTION_HEAD_DIM, out_width, n_heads * head_dim);
    if (n_kv_heads == 0 || n_heads % n_kv_heads != 0) {
        throw_dims(CTT_MSG_ATTENTION_GQA, n_heads, n_kv_heads);
    }
}

/// Checks the operands of a multi-head call over `[L, heads * D]` views and describes K and V
/// for the kernels.
template <index_t D, class Q, class K, class V, class O>
kv_source<> checked_kv_source(const Q& q, const K& k, const V& v, const O& out, index_t n_heads,
                              index_t n_kv_heads) {
    check_head_counts(q.cols(), out.cols(), D, n_heads, n_kv_heads);
    check_dims(CTT_MSG_ATTENTION_HEAD_DIM, k.cols(), n_kv_heads * D);
    check_dims(CTT_MSG_ATTENTION_HEAD_DIM, v.cols(), n_kv_heads * D);
    check_dims(CTT_MSG_ATTENTION_KV_LEN, k.rows(), v.rows());
    check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), out.rows());
    return {k.data(), v.data(), k.row_stride(), v.row_stride(), D, D, k.rows()};
}
} // namespace detail

/**
 * @brief One query row per head over `Lk` keys: `q`, `out` are `[1, n_heads * D]`, `k`, `v`
 *        `[Lk, n_kv_heads * D]` (heads as column blocks; query head h reads KV head
 *        `h / (n_heads / n_kv_heads)`).
 *
 * K must already be transformed (rotary); `q_transform` is applied at the query position
 * `params.offset_for(1, Lk)` (the newest token, `Lk - 1`). Caches longer than
 * `params.decode_chunk` keys are split into chunks reduced in parallel and merged in chunk
 * order, so the result is the same for any thread count.
 */
template <index_t D, detail::float_matrix_view Q, detail::float_matrix_view K,
          detail::float_matrix_view V, detail::mutable_float_matrix_view O,
          attention_mask M = no_mask, score_bias B = no_bias, qk_transform QT = no_transform>
void decode_attention(const Q& q, const K& k, const V& v, const O& out, const M& mask = {},
                      const B& bias = {}, const QT& q_transform = {},
                      const attention_params& params = {}, index_t n_heads = 1,
                      index_t n_kv_heads = 1) {
    const detail::kv_source<> kv = detail::checked_kv_source<D>(q, k, v, out, n_heads, n_kv_heads);
    detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), 1);
    detail::decode_heads<D>({q.data(), q.row_stride(), D}, kv, {out.data(), out.row_stride(), D},
                            n_heads, n_kv_heads, mask, bias, q_transform,
                            params.offset_for(1, k.rows()), params.scale_for(D),
                            params.decode_chunk);
}

/**
 * @brief One query row per head over the tokens of `cache` (`n_heads` a multiple of its KV
 *        heads). See the overload on views.
 */
template <index_t KvHeads, index_t D, weight_type E, detail::float_matrix_view Q,
          detail::mutable_float_matrix_view O, attention_mask M = no_mask, score_bias B = no_bias,
          qk_transform QT = no_transform>
void decode_attention(const Q& q, const kv_cache<KvHeads, D, E>& cache, const O& out,
                      const M& mask = {}, const B& bias = {}, const QT& q_transform = {},
                      const attention_params& params = {}, index_t n_heads = KvHeads) {
    detail::check_head_counts(q.cols(), out.cols(), D, n_heads, KvHeads);
    detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), out.rows());
    detail::check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), 1);
    const auto kv = cache.source();
    detail::decode_heads<D>({q.data(), q.row_stride(), D}, kv, {out.data(), out.row_stride(), D},
                            n_heads, KvHeads, mask, bias, q_transform,
                            params.offset_for(1, kv.length), params.scale_for(D),
                            params.decode_chunk);
}

} // namespace ctt
