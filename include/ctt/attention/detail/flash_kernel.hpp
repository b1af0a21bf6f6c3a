#pragma once
/**
 * @file
 * @brief The tiled kernel behind `flash_attention` and `attention_heads`: one tile of `Bq`
 *        queries against every key tile of `Bk` keys, with the online softmax of
 *        FlashAttention (Dao et al., arXiv:2205.14135) in the loop order and delayed
 *        normalisation of FlashAttention-2 (arXiv:2307.08691).
 *
 * Layout, chosen so that every inner loop is a register-blocked FMA loop:
 * - the query tile is copied once, transformed (rotary) and multiplied by the scale;
 * - each key tile is packed transposed (`[D][Bk]`), so `S = Q K^T` is a GEMM micro-kernel
 *   broadcasting one query element against registers of keys;
 * - score rows stay contiguous, so `score_bias::add` and `attention_mask::apply` work on
 *   them in place;
 * - `O += P V` broadcasts one probability against registers of a value row.
 * The workspace is sized from the static head dimension and tile sizes only.
 */

#include <algorithm>
#include <cstring>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/online_softmax.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/transpose.hpp"

namespace ctt::detail {

/// Register blocking for the target: rows x registers of accumulators that fit the file.
struct flash_blocking {
    static constexpr index_t lanes = simd::width<float>;
    static constexpr index_t rows = lanes >= 16 ? 6 : 3; ///< 24 of 32 zmm, 12 of 16 ymm/xmm
    static constexpr index_t vecs = 4;                   ///< registers per micro-tile row
    static constexpr index_t cols = vecs * lanes;        ///< keys (QK) or dims (PV) per pass
};

/// Default tile sizes: 64 queries share each packed key tile of 64 keys.
inline constexpr index_t flash_block_q = 128;
inline constexpr index_t flash_block_k = 128;

template <index_t D, index_t Bq, index_t Bk>
struct flash_workspace {
    static_assert(Bk % flash_blocking::cols == 0, "flash: key tile must hold whole micro-tiles");
    alignas(64) float q[Bq * D];  ///< scaled, transformed query tile, row-major
    alignas(64) float kt[D * Bk]; ///< current key tile, transposed
    alignas(64) float v[Bk * D];  ///< current value tile, rows contiguous
    alignas(64) float s[Bq * Bk]; ///< scores, then probabilities
    alignas(64) float o[Bq * D];  ///< unnormalised outputs
    float m[Bq];                  ///< running row maxima
    float l[Bq];                  ///< running row sums
};

/// Calls `f.template operator()<R>()` with `R == n`, for `1 <= n <= Max`.
template <index_t Max, class F>
inline void with_static_rows(index_t n, F&& f) {
    if constexpr (Max == 1) {
        f.template operator()<1>();
    } else {
        if (n == Max) {
            f.template operator()<Max>();
        } else {
            with_static_rows<Max - 1>(n, std::forward<F>(f));
        }
    }
}

/// `s[r][c] = q[r] . kt[:, c]` for R rows and `vecs` registers of keys.
template <index_t R, index_t D, index_t Bk>
inline void qk_micro(const float* q, const float* kt, float* s) noexcept {
    using batch = simd::batch<float>;
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t NV = flash_blocking::vecs;
    batch acc[R][NV];
    for (index_t r = 0; r < R; ++r) {
        for (index_t v = 0; v < NV; ++v) {
            acc[r][v] = batch(0.0f);
        }
    }
    for (index_t d = 0; d < D; ++d) {
        batch kv[NV];
        for (index_t v = 0; v < NV; ++v) {
            kv[v] = batch::load_aligned(kt + d * Bk + v * W);
        }
        for (index_t r = 0; r < R; ++r) {
            const batch qb(q[r * D + d]);
            for (index_t v = 0; v < NV; ++v) {
                acc[r][v] = simd::fma(qb, kv[v], acc[r][v]);
            }
        }
    }
    for (index_t r = 0; r < R; ++r) {
        for (index_t v = 0; v < NV; ++v) {
            acc[r][v].store_aligned(s + r * Bk + v * W);
        }
    }
}

/// `o[r][0..NV*W) += sum_j p[r][j] v[j][0..NV*W)` for R rows.
template <index_t R, index_t NV, index_t D, index_t Bk>
inline void pv_micro(const float* p, index_t nk, const float* v, index_t ldv, float* o) noexcept {
    using batch = simd::batch<float>;
    constexpr index_t W = flash_blocking::lanes;
    batch acc[R][NV];
    for (index_t r = 0; r < R; ++r) {
        for (index_t c = 0; c < NV; ++c) {
            acc[r][c] = simd::load(o + r * D + c * W);
        }
    }
    for (index_t j = 0; j < nk; ++j) {
        batch vv[NV];
        for (index_t c = 0; c < NV; ++c) {
            vv[c] = simd::load(v + j * ldv + c * W);
        }
        for (index_t r = 0; r < R; ++r) {
            const batch pb(p[r * Bk + j]);
            for (index_t c = 0; c < NV; ++c) {
                acc[r][c] = simd::fma(pb, vv[c], acc[r][c]);
            }
        }
    }
    for (index_t r = 0; r < R; ++r) {
        for (index_t c = 0; c < NV; ++c) {
            simd::store(o + r * D + c * W, acc[r][c]);
        }
    }
}

/// Copies query rows `[0, nq)` into the workspace, applying the transform and the scale.
template <index_t D, class QT>
inline void load_query_tile(const float* q, index_t ldq, index_t nq, index_t pos0, float scale,
                            const QT& q_transform, float* dst) {
    for (index_t r = 0; r < nq; ++r) {
        float* row = dst + r * D;
        std::memcpy(row, q + r * ldq, D * sizeof(float));
        if constexpr (!is_no_transform_v<QT>) {
            q_transform.apply(pos0 + r, row, D);
        }
        scale_row(row, D, scale);
    }
}

/// Packs keys `[0, nk)` of a tile transposed, zero-filling up to whole micro-tiles.
template <index_t D, index_t Bk>
inline void pack_keys_transposed(const float* k, index_t ldk, index_t nk, float* kt) noexcept {
    constexpr index_t C = flash_blocking::cols;
    constexpr index_t T = simd::transpose_block_size;
    constexpr index_t full_d = D / T * T;
    const index_t padded = (nk + C - 1) / C * C;
    // Whole 16 x 16 blocks go through the in-register transpose; the rest is scalar.
    index_t j0 = 0;
    for (; j0 + T <= nk; j0 += T) {
        for (index_t d0 = 0; d0 < full_d; d0 += T) {
            simd::transpose_block(k + j0 * ldk + d0, ldk, kt + d0 * Bk + j0, Bk);
        }
        for (index_t d = full_d; d < D; ++d) {
            for (index_t t = 0; t < T; ++t) {
                kt[d * Bk + j0 + t] = k[(j0 + t) * ldk + d];
            }
        }
    }
    for (index_t j = j0; j < nk; ++j) {
        const float* row = k + j * ldk;
        for (index_t d = 0; d < D; ++d) {
            kt[d * Bk + j] = row[d];
        }
    }
    if (padded > nk) {
        for (index_t d = 0; d < D; ++d) {
            std::fill(kt + d * Bk + nk, kt + d * Bk + padded, 0.0f);
        }
    }
}

/// `o[0..nq) += p v` over the tile's `nk` keys, register-blocked over rows and head dims.
template <index_t D, index_t Bk>
inline void accumulate_pv(const float* p, index_t nq, index_t nk, const float* v, index_t ldv,
                          float* o) noexcept {
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t NV = flash_blocking::vecs;
    constexpr index_t RB = flash_blocking::rows;
    constexpr index_t full_vecs = D / W;
    for (index_t r0 = 0; r0 < nq; r0 += RB) {
        const index_t nr = std::min(RB, nq - r0);
        const float* pr = p + r0 * Bk;
        float* orow = o + r0 * D;
        with_static_rows<RB>(nr, [&]<index_t R>() {
            index_t c = 0;
            for (; c + NV <= full_vecs; c += NV) {
                pv_micro<R, NV, D, Bk>(pr, nk, v + c * W, ldv, orow + c * W);
            }
            if constexpr (full_vecs % NV != 0) {
                with_static_rows<NV - 1>(full_vecs % NV, [&]<index_t NR>() {
                    pv_micro<R, NR, D, Bk>(pr, nk, v + c * W, ldv, orow + c * W);
                });
            }
        });
        if constexpr (D % W != 0) {
            // Head dimensions that are not a multiple of the register width (8 of the
            // latent-diffusion transformer, 80, ...): the last columns are scalar.
            for (index_t r = 0; r < nr; ++r) {
                for (index_t j = 0; j < nk; ++j) {
                    const float pj = pr[r * Bk + j];
                    for (index_t d = full_vecs * W; d < D; ++d) {
                        orow[r * D + d] += pj * v[j * ldv + d];
                    }
                }
            }
        }
    }
}

/**
 * @brief Attention of query rows `[q_begin, q_begin + nq)` (nq <= Bq) of one head over all
 *        keys; writes the normalised output rows.
 *
 * `q`, `k`, `v` and `out` point at the head's first row. Query row i sits at position
 * `q_offset + i`.
 */
template <index_t D, index_t Bq, index_t Bk, class M, class B, class QT>
void flash_query_tile(const float* q, index_t ldq, const float* k, index_t ldk, const float* v,
                      index_t ldv, float* out, index_t ldo, index_t q_begin, index_t nq, index_t lk,
                      index_t q_offset, float scale, index_t head, const M& mask, const B& bias,
                      const QT& q_transform, flash_workspace<D, Bq, Bk>& ws) {
    constexpr index_t C = flash_blocking::cols;
    constexpr index_t RB = flash_blocking::rows;
    const index_t pos0 = q_offset + q_begin;
    load_query_tile<D>(q + q_begin * ldq, ldq, nq, pos0, scale, q_transform, ws.q);
    std::fill(ws.o, ws.o + nq * D, 0.0f);
    std::fill(ws.m, ws.m + nq, minus_infinity);
    std::fill(ws.l, ws.l + nq, 0.0f);

    for (index_t k0 = 0; k0 < lk; k0 += Bk) {
        const index_t nk = std::min(Bk, lk - k0);
        const tile_visibility vis = mask.classify(pos0, pos0 + nq, k0, k0 + nk);
        if (vis == tile_visibility::hidden) {
            continue;
        }
        pack_keys_transposed<D, Bk>(k + k0 * ldk, ldk, nk, ws.kt);
        const index_t ncols = (nk + C - 1) / C * C;
        for (index_t r0 = 0; r0 < nq; r0 += RB) {
            with_static_rows<RB>(std::min(RB, nq - r0), [&]<index_t R>() {
                for (index_t c0 = 0; c0 < ncols; c0 += C) {
                    qk_micro<R, D, Bk>(ws.q + r0 * D, ws.kt + c0, ws.s + r0 * Bk + c0);
                }
            });
        }
        for (index_t r = 0; r < nq; ++r) {
            float* row = ws.s + r * Bk;
            if constexpr (!is_no_bias_v<B>) {
                bias.add(head, pos0 + r, k0, nk, row);
            }
            if (vis == tile_visibility::partial) {
                mask.apply(pos0 + r, k0, nk, row);
            }
            online_softmax_step(row, nk, ws.m[r], ws.l[r], ws.o + r * D, D);
        }
        // Value rows of a [L, H*D] projection sit H*D floats apart: a multiple of 4 KiB for
        // common shapes, so reading them in place thrashes one L1 set. Copy the tile first.
        for (index_t j = 0; j < nk; ++j) {
            std::memcpy(ws.v + j * D, v + (k0 + j) * ldv, D * sizeof(float));
        }
        accumulate_pv<D, Bk>(ws.s, nq, nk, ws.v, D, ws.o);
    }

    for (index_t r = 0; r < nq; ++r) {
        float* dst = out + (q_begin + r) * ldo;
        if (ws.l[r] > 0.0f) {
            std::memcpy(dst, ws.o + r * D, D * sizeof(float));
            scale_row(dst, D, 1.0f / ws.l[r]);
        } else {
            std::fill(dst, dst + D, 0.0f);
        }
    }
}

/**
 * @brief Every head and query tile of one call, split over threads as (head, query tile)
 *        items. Each output row belongs to exactly one item, computed the same way whatever
 *        thread runs it, so results do not depend on the thread count.
 */
template <index_t D, index_t Bq = flash_block_q, index_t Bk = flash_block_k, class M, class B,
          class QT>
void flash_heads(head_rows<const float> q, const kv_source& kv, head_rows<float> out, index_t lq,
                 index_t n_heads, index_t n_kv_heads, const M& mask, const B& bias,
                 const QT& q_transform, index_t q_offset, float scale) {
    const index_t tiles = (lq + Bq - 1) / Bq;
    const index_t group = n_heads / n_kv_heads;
    for_each_item_with_workspace<flash_workspace<D, Bq, Bk>>(
        n_heads * tiles, [&](index_t item, flash_workspace<D, Bq, Bk>& ws) {
            const index_t h = item / tiles;
            const index_t t = item % tiles;
            const index_t g = h / group;
            const index_t q_begin = t * Bq;
            flash_query_tile<D, Bq, Bk>(
                q.data + h * q.head_stride, q.row_stride, kv.k + g * kv.k_head_stride,
                kv.k_row_stride, kv.v + g * kv.v_head_stride, kv.v_row_stride,
                out.data + h * out.head_stride, out.row_stride, q_begin, std::min(Bq, lq - q_begin),
                kv.length, q_offset, scale, h, mask, bias, q_transform, ws);
        });
}

} // namespace ctt::detail
