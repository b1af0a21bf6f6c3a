#pragma once
/**
 * @file
 * @brief The single-query kernel behind `decode_attention`: one pass over the cached keys and
 *        values, split into fixed chunks whose partial softmax states `(max, sum, acc)` are
 *        merged in chunk order (the split-K "flash-decoding" scheme; the merge is the
 *        associative rescaling of Milakov & Gimelshein, arXiv:1805.02867).
 *
 * The query heads of one GQA group are processed together, so each key and value row is read
 * once per group, not once per query head.
 */

#include <algorithm>
#include <cstring>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/online_softmax.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt::detail {

/// Keys per block inside a chunk: scores of one block for a whole group stay in L1.
inline constexpr index_t decode_block = 64;

struct decode_workspace {
    std::vector<float> scores; ///< group x decode_block
};

/// Per-call buffers of the calling thread: transformed queries and each chunk's partial state.
struct decode_call_buffers {
    std::vector<float> queries;
    std::vector<float> state;
};

/// `q . k` for one key row (stored as `E`, widened in registers), as a register of partial
/// sums (reduced by the caller).
template <index_t D, weight_type E = weight_type::f32>
[[nodiscard]] inline simd::batch<float> dot_partial(const float* q,
                                                    const kv_storage_t<E>* k) noexcept {
    using batch = simd::batch<float>;
    using element = kv_element<E>;
    constexpr index_t W = simd::width<float>;
    batch acc0(0.0f);
    batch acc1(0.0f);
    index_t d = 0;
    for (; d + 2 * W <= D; d += 2 * W) {
        acc0 = simd::fma(simd::load(q + d), element::load(k + d), acc0);
        acc1 = simd::fma(simd::load(q + d + W), element::load(k + d + W), acc1);
    }
    for (; d < D; d += W) {
        const index_t lanes = std::min(W, D - d);
        acc0 = simd::fma(simd::load_n(q + d, lanes), kv_load_n<E>(k + d, lanes), acc0);
    }
    return acc0 + acc1;
}

/// `acc[0..D) += sum_j p[j] v[j]` over `n` value rows (stored as `E`).
template <index_t D, weight_type E = weight_type::f32>
inline void accumulate_values(const float* p, index_t n, const kv_storage_t<E>* v, index_t ldv,
                              float* acc) noexcept {
    using batch = simd::batch<float>;
    using element = kv_element<E>;
    constexpr index_t W = simd::width<float>;
    constexpr index_t full = D / W;
    constexpr index_t step = full < 8 ? (full == 0 ? 1 : full) : 8;
    // Loops that cannot run are not instantiated: a head dimension below one register has no
    // full-register part, and one of whole blocks of `step` registers has no remainder. GCC 12
    // warns about such dead loops (-Waggressive-loop-optimizations, seen at D = 8 and D = 256).
    if constexpr (full > 0) {
        index_t c = 0;
        for (; c + step <= full; c += step) {
            batch a[step];
            for (index_t t = 0; t < step; ++t) {
                a[t] = simd::load(acc + (c + t) * W);
            }
            for (index_t j = 0; j < n; ++j) {
                const batch pj(p[j]);
                for (index_t t = 0; t < step; ++t) {
                    a[t] = simd::fma(pj, element::load(v + j * ldv + (c + t) * W), a[t]);
                }
            }
            for (index_t t = 0; t < step; ++t) {
                simd::store(acc + (c + t) * W, a[t]);
            }
        }
        if constexpr (full % step != 0) {
            for (; c < full; ++c) {
                batch a = simd::load(acc + c * W);
                for (index_t j = 0; j < n; ++j) {
                    a = simd::fma(batch(p[j]), element::load(v + j * ldv + c * W), a);
                }
                simd::store(acc + c * W, a);
            }
        }
    }
    for (index_t d = full * W; d < D; ++d) {
        for (index_t j = 0; j < n; ++j) {
            acc[d] += p[j] * element::widen(v[j * ldv + d]);
        }
    }
}

/**
 * @brief Keys `[k_begin, k_end)` of one KV head for the `group` query heads that share it.
 *
 * `qs` holds the group's queries (transformed and scaled), `state` per head `D + 2` floats:
 * the unnormalised output, then the running max and sum.
 */
template <index_t D, weight_type E, class M, class B>
void decode_chunk(const float* qs, index_t group, index_t first_head, const kv_storage_t<E>* k,
                  index_t ldk, const kv_storage_t<E>* v, index_t ldv, index_t k_begin,
                  index_t k_end, index_t q_pos, const M& mask, const B& bias, float* state,
                  decode_workspace& ws) {
    constexpr index_t Bd = decode_block;
    if (ws.scores.size() < group * Bd) {
        ws.scores.resize(group * Bd);
    }
    float* scores = ws.scores.data();
    for (index_t kb = k_begin; kb < k_end; kb += Bd) {
        const index_t nb = std::min(Bd, k_end - kb);
        const tile_visibility vis = mask.classify(q_pos, q_pos + 1, kb, kb + nb);
        if (vis == tile_visibility::hidden) {
            continue;
        }
        // One horizontal sum per (key, head). (xsimd 8.1's AVX-512 `haddp` permutes its
        // result lanes, so the batched transpose-reduction is not used.) The decode step is
        // bound by reading K and V, not by these reductions.
        for (index_t j = 0; j < nb; ++j) {
            const kv_storage_t<E>* krow = k + (kb + j) * ldk;
            for (index_t g = 0; g < group; ++g) {
                scores[g * Bd + j] = simd::reduce_add(dot_partial<D, E>(qs + g * D, krow));
            }
        }
        for (index_t g = 0; g < group; ++g) {
            float* row = scores + g * Bd;
            float* st = state + g * (D + 2);
            if constexpr (!is_no_bias_v<B>) {
                bias.add(first_head + g, q_pos, kb, nb, row);
            }
            if (vis == tile_visibility::partial) {
                mask.apply(q_pos, kb, nb, row);
            }
            online_softmax_step(row, nb, st[D], st[D + 1], st, D);
            accumulate_values<D, E>(row, nb, v + kb * ldv, ldv, st);
        }
    }
}

/**
 * @brief One query row per head over `kv.length` keys. Chunks of `chunk` keys (0: one chunk)
 *        are items spread over the threads; the merge walks chunks in order, so the result
 *        depends on `chunk` but never on the thread count.
 */
template <index_t D, weight_type E, class M, class B, class QT>
void decode_heads(head_rows<const float> q, const kv_source<E>& kv, head_rows<float> out,
                  index_t n_heads, index_t n_kv_heads, const M& mask, const B& bias,
                  const QT& q_transform, index_t q_pos, float scale, index_t chunk) {
    const index_t lk = kv.length;
    const index_t group = n_heads / n_kv_heads;
    const index_t chunk_len = chunk == 0 || lk <= chunk ? std::max<index_t>(lk, 1) : chunk;
    const index_t n_chunks = (std::max<index_t>(lk, 1) + chunk_len - 1) / chunk_len;
    constexpr index_t S = D + 2;

    // Reused from call to call (a decoder calls this once per layer and token).
    decode_call_buffers& buffers = thread_workspace<decode_call_buffers>();
    std::vector<float>& qs = buffers.queries;
    qs.resize(n_heads * D);
    for (index_t h = 0; h < n_heads; ++h) {
        float* row = qs.data() + h * D;
        std::memcpy(row, q.data + h * q.head_stride, D * sizeof(float));
        if constexpr (!is_no_transform_v<QT>) {
            q_transform.apply(q_pos, row, D);
        }
        scale_row(row, D, scale);
    }
    std::vector<float>& state = buffers.state;
    state.assign(n_chunks * n_heads * S, 0.0f);
    for (index_t i = 0; i < n_chunks * n_heads; ++i) {
        state[i * S + D] = minus_infinity;
    }

    for_each_item_with_workspace<decode_workspace>(
        n_kv_heads * n_chunks,
        [&](index_t item, decode_workspace& ws) {
            const index_t g = item / n_chunks;
            const index_t c = item % n_chunks;
            const index_t k_begin = c * chunk_len;
            const index_t k_end = std::min(lk, k_begin + chunk_len);
            decode_chunk<D, E>(qs.data() + g * group * D, group, g * group,
                               kv.k + g * kv.k_head_stride, kv.k_row_stride,
                               kv.v + g * kv.v_head_stride, kv.v_row_stride, k_begin, k_end, q_pos,
                               mask, bias, state.data() + (c * n_heads + g * group) * S, ws);
        },
        2.0 * static_cast<double>(n_heads) * static_cast<double>(lk) * static_cast<double>(D));

    for (index_t h = 0; h < n_heads; ++h) {
        float* dst = out.data + h * out.head_stride;
        float best = minus_infinity;
        for (index_t c = 0; c < n_chunks; ++c) {
            best = std::max(best, state[(c * n_heads + h) * S + D]);
        }
        std::fill(dst, dst + D, 0.0f);
        if (best == minus_infinity) {
            continue;
        }
        float total = 0.0f;
        for (index_t c = 0; c < n_chunks; ++c) {
            const float* st = state.data() + (c * n_heads + h) * S;
            if (st[D + 1] == 0.0f) {
                continue;
            }
            const float w = std::exp(st[D] - best);
            total += st[D + 1] * w;
            for (index_t d = 0; d < D; ++d) {
                dst[d] += w * st[d];
            }
        }
        scale_row(dst, D, 1.0f / total);
    }
}

} // namespace ctt::detail
