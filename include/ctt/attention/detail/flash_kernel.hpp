#pragma once
/**
 * @file
 * @brief The tiled kernel behind `flash_attention` and `attention_heads`: one tile of `Bq`
 *        queries against every key tile of `Bk` keys, with the online softmax of
 *        FlashAttention (Dao et al., arXiv:2205.14135) in the loop order and the delayed
 *        normalisation of FlashAttention-2 (arXiv:2307.08691).
 *
 * Queries live in SIMD lanes. The tile works on transposed scores `S^T [Bk][Bq]`, so:
 * - the query tile is loaded once (transform, scale) and transposed to `Q^T [D][Bq]`;
 * - `S^T = K Q^T` is a register-blocked micro-kernel that broadcasts one key element against
 *   registers of queries. Key rows are read in place when they are contiguous (a KV cache) and
 *   copied otherwise: the rows of a `[L, H*D]` projection sit a multiple of 4 KiB apart and
 *   would all fall in one L1 set;
 * - the online softmax runs down the key rows of `S^T`: maxima, exponentials and sums are
 *   vertical register operations, one query per lane, with no horizontal reductions;
 * - `O^T += V^T P^T` is the same micro-kernel broadcasting one value element against
 *   registers of probabilities, from values transposed by key tile. The rescaling of the
 *   running output by `exp(m_old - m_new)` happens as it loads `O^T`, not in a separate pass;
 * - with several query tiles per head, each thread packs a head's keys and values once
 *   (`flash_heads`), so the tiles stream them sequentially; a lone tile packs as it goes;
 * - score biases and masks run on key rows of `S^T` (`add_column`, `apply_column`); one
 *   without a column form sees ordinary score rows through a transposed copy of the tile.
 * The workspace is sized from the static head dimension and tile sizes only.
 */

#include <algorithm>
#include <cstring>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/online_softmax.hpp"
#include "ctt/kernels/detail/gemm_unroll.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/math.hpp"
#include "ctt/simd/transpose.hpp"

namespace ctt::detail {

/// Register blocking of the micro-kernel: `rows` broadcast rows (keys in `Q K^T`, head dims
/// in `P V`) times `vecs` registers of queries.
struct flash_blocking {
    static constexpr index_t lanes = simd::width<float>;
    static constexpr index_t rows = lanes >= 16 ? 8 : 4; ///< 24 of 32 zmm, 12 of 16 ymm
    static constexpr index_t vecs = 3;
};

/// Default tile sizes: 192 queries (four groups of 48 lanes) against key tiles of 128.
inline constexpr index_t flash_block_q = 192;
inline constexpr index_t flash_block_k = 128;

[[nodiscard]] constexpr index_t round_up(index_t n, index_t m) noexcept {
    return (n + m - 1) / m * m;
}

template <index_t D, index_t Bq, index_t Bk>
struct flash_workspace {
    static constexpr index_t block = simd::transpose_block_size;
    static constexpr index_t padded_d = round_up(D, block);
    static_assert(Bq % block == 0 && Bq % flash_blocking::lanes == 0,
                  "flash: the query tile must hold whole registers and transpose blocks");
    static_assert(Bk % block == 0, "flash: the key tile must hold whole transpose blocks");
    alignas(64) float qt[padded_d * Bq]; ///< scaled, transformed queries, transposed
    alignas(64) float k[Bk * D];         ///< key rows, when the source's are not contiguous
    alignas(64) float v[D * Bk];         ///< values of one key tile, transposed
    alignas(64) float st[Bk * Bq];       ///< scores, then probabilities, transposed
    alignas(64) float ot[padded_d * Bq]; ///< unnormalised outputs, transposed
    /// Row-major staging: the query tile as loaded, the output before the store, and the
    /// scores for biases and masks without a column form.
    alignas(64) float rows[Bq * (padded_d > Bk ? padded_d : Bk)];
    alignas(64) float m[Bq];     ///< running maxima, one per query
    alignas(64) float l[Bq];     ///< running sums
    alignas(64) float alpha[Bq]; ///< this tile's rescaling of the running output
    /// One head's keys (contiguous rows) and values (transposed by key tile), packed by
    /// `flash_heads`, and whose keys they are.
    std::vector<float> head_k;
    std::vector<float> head_v;
    /// A head's values widened from reduced precision, before their transposition.
    std::vector<float> head_wide;
    const void* packed_k = nullptr;

    /// A new call: the packed head, if any, is stale (the same address may hold new keys).
    void reset() noexcept { packed_k = nullptr; }
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

/**
 * @brief `c[r][0..NV*W) (+)= sum_{t < depth} a[r*AR + t*AC] * b[t][0..NV*W)` for `R` rows;
 *        `b` and `c` rows are `LD` floats apart.
 *
 * With `Accumulate`, `c` is first multiplied lane-wise by `c_scale[0..NV*W)` (the online
 * softmax's rescaling of the running output).
 */
template <index_t R, index_t NV, index_t AR, index_t AC, index_t LD, bool Accumulate>
inline void tile_fma(const float* a, const float* b, index_t depth, float* c,
                     const float* c_scale) noexcept {
    using batch = simd::batch<float>;
    using kernels::detail::static_for;
    constexpr index_t W = flash_blocking::lanes;
    // Constant indices only (static_for), so that every accumulator lives in a register.
    batch acc[R][NV];
    if constexpr (Accumulate) {
        batch s[NV];
        static_for<NV>([&](auto v) { s[v] = batch::load_aligned(c_scale + v * W); });
        static_for<R>([&](auto r) {
            static_for<NV>(
                [&](auto v) { acc[r][v] = batch::load_aligned(c + r * LD + v * W) * s[v]; });
        });
    } else {
        static_for<R>([&](auto r) { static_for<NV>([&](auto v) { acc[r][v] = batch(0.0f); }); });
    }
    for (index_t t = 0; t < depth; ++t) {
        batch bv[NV];
        static_for<NV>([&](auto v) { bv[v] = batch::load_aligned(b + t * LD + v * W); });
        static_for<R>([&](auto r) {
            const batch ab(a[r * AR + t * AC]);
            static_for<NV>([&](auto v) { acc[r][v] = simd::fma(ab, bv[v], acc[r][v]); });
        });
    }
    static_for<R>([&](auto r) {
        static_for<NV>([&](auto v) { acc[r][v].store_aligned(c + r * LD + v * W); });
    });
}

/// Where a tile's keys sit in `tile_product`: the rows of `A` (`Q K^T`) or its depth (`P V`).
enum class keys_are { rows, depth };

/**
 * @brief `c (+)= A b` over a tile: `rows` rows of `A` (`a[r*AR + t*AC]`) against `nqv`
 *        registers of queries, cut into micro-tiles of the register blocking.
 *
 * Queries go in groups of `flash_blocking::vecs` registers; group g uses only its first
 * `keys[g]` keys (the rest are hidden from all its queries), as rows or as depth.
 */
template <index_t AR, index_t AC, index_t LD, bool Accumulate, keys_are Keys,
          index_t StaticRows = 0>
inline void tile_product(const float* a, index_t rows, const float* b, index_t depth, float* c,
                         index_t nqv, const float* c_scale, const index_t* keys) noexcept {
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t NV = flash_blocking::vecs;
    constexpr index_t RB = flash_blocking::rows;
    for (index_t q0 = 0, g = 0; q0 < nqv; q0 += NV, ++g) {
        const index_t n_rows = Keys == keys_are::rows ? keys[g] : rows;
        const index_t n_depth = Keys == keys_are::depth ? keys[g] : depth;
        with_static_rows<NV>(std::min(NV, nqv - q0), [&]<index_t V>() {
            const auto micro = [&]<index_t R>(index_t r0) {
                tile_fma<R, V, AR, AC, LD, Accumulate>(a + r0 * AR, b + q0 * W, n_depth,
                                                       c + r0 * LD + q0 * W,
                                                       // Null without Accumulate: no offset.
                                                       Accumulate ? c_scale + q0 * W : nullptr);
            };
            if constexpr (StaticRows > 0) {
                // Rows known at compile time (the head dimension): only the micro-kernels
                // that occur are instantiated.
                constexpr index_t full = StaticRows / RB * RB;
                for (index_t r0 = 0; r0 < full; r0 += RB) {
                    micro.template operator()<RB>(r0);
                }
                if constexpr (StaticRows % RB != 0) {
                    micro.template operator()<StaticRows % RB>(full);
                }
            } else {
                for (index_t r0 = 0; r0 < n_rows; r0 += RB) {
                    with_static_rows<RB>(std::min(RB, n_rows - r0),
                                         [&]<index_t R>() { micro.template operator()<R>(r0); });
                }
            }
        });
    }
}

/**
 * @brief Keys of a partially visible tile that each query group needs: all but the trailing
 *        micro-rows of keys that `mask` hides from every query of the group (the part of a
 *        causal diagonal tile past the group's last query). Those rows of `st` become -inf.
 */
template <index_t Bq, class M>
inline void visible_keys_per_group(const M& mask, index_t pos0, index_t nq, index_t k0, index_t nk,
                                   float* st, index_t* keys) noexcept {
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t G = flash_blocking::vecs * W;
    constexpr index_t RB = flash_blocking::rows;
    for (index_t q0 = 0, g = 0; q0 < nq; q0 += G, ++g) {
        const index_t q_end = std::min(nq, q0 + G);
        index_t n = nk;
        while (n > 0) {
            const index_t r0 = (n - 1) / RB * RB;
            if (mask.classify(pos0 + q0, pos0 + q_end, k0 + r0, k0 + n) !=
                tile_visibility::hidden) {
                break;
            }
            n = r0;
        }
        keys[g] = n;
        const index_t lanes_end = std::min(round_up(q_end, W), q0 + G);
        for (index_t j = n; j < nk; ++j) {
            std::fill(st + j * Bq + q0, st + j * Bq + lanes_end, minus_infinity);
        }
    }
}

/**
 * @brief The online-softmax step of a tile, one query per lane: running maxima `m`, sums `l`,
 *        and `alpha = exp(m_old - m_new)` for the output; scores become `exp(s - m_new)`.
 *
 * A query whose keys are all masked so far keeps `m = -inf`, `l = 0`; its probabilities are
 * `exp(-inf) = 0` (the shift is 0 then, never `-inf - -inf`).
 */
template <index_t Bq>
inline void online_softmax_columns(float* st, index_t nk, float* m, float* l,
                                   float* alpha) noexcept {
    using batch = simd::batch<float>;
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t NQ = Bq / W;
    const batch neg_inf(minus_infinity);
    batch shift[NQ];
    for (index_t q = 0; q < NQ; ++q) {
        shift[q] = neg_inf;
    }
    for (index_t j = 0; j < nk; ++j) {
        for (index_t q = 0; q < NQ; ++q) {
            shift[q] = xsimd::max(shift[q], batch::load_aligned(st + j * Bq + q * W));
        }
    }
    for (index_t q = 0; q < NQ; ++q) {
        const batch m_old = batch::load_aligned(m + q * W);
        const batch m_new = xsimd::max(m_old, shift[q]);
        m_new.store_aligned(m + q * W);
        shift[q] = xsimd::select(m_new == neg_inf, batch(0.0f), m_new);
        simd::exp_ftz(m_old - shift[q]).store_aligned(alpha + q * W);
    }
    batch sum[NQ];
    for (index_t q = 0; q < NQ; ++q) {
        sum[q] = batch(0.0f);
    }
    for (index_t j = 0; j < nk; ++j) {
        for (index_t q = 0; q < NQ; ++q) {
            float* s = st + j * Bq + q * W;
            const batch p = simd::exp_ftz(batch::load_aligned(s) - shift[q]);
            p.store_aligned(s);
            sum[q] += p;
        }
    }
    for (index_t q = 0; q < NQ; ++q) {
        const batch a = batch::load_aligned(alpha + q * W);
        (batch::load_aligned(l + q * W) * a + sum[q]).store_aligned(l + q * W);
    }
}

/// `dst[c][r] = src[r][c]` for `r < rows`, `c < cols`, both multiples of the transpose block.
inline void transpose_tile(const float* src, index_t lds, index_t rows, index_t cols, float* dst,
                           index_t ldd) noexcept {
    constexpr index_t T = simd::transpose_block_size;
    for (index_t r0 = 0; r0 < rows; r0 += T) {
        for (index_t c0 = 0; c0 < cols; c0 += T) {
            simd::transpose_block(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
        }
    }
}

/// Rows `[0, n)` of a `ld`-strided source stored as `E`, contiguous floats in `dst` (`D`
/// each).
template <index_t D, weight_type E = weight_type::f32>
inline void copy_rows(const kv_storage_t<E>* src, index_t ld, index_t n, float* dst) noexcept {
    for (index_t j = 0; j < n; ++j) {
        kv_widen_row<E>(src + j * ld, D, dst + j * D);
    }
}

/**
 * @brief Values `[0, n)` transposed by key tile: tile t is a `[D][Bk]` block holding
 *        `v[t*Bk + j][d]` at `d*Bk + j`, so `O^T += V^T P^T` broadcasts along contiguous memory.
 */
template <index_t D, index_t Bk>
inline void pack_values_transposed(const float* v, index_t ldv, index_t n, float* dst) noexcept {
    constexpr index_t T = simd::transpose_block_size;
    for (index_t k0 = 0; k0 < n; k0 += Bk) {
        float* block = dst + k0 / Bk * (D * Bk);
        const float* src = v + k0 * ldv;
        const index_t nk = std::min(Bk, n - k0);
        index_t j0 = 0;
        for (; j0 + T <= nk; j0 += T) {
            index_t d0 = 0;
            for (; d0 + T <= D; d0 += T) {
                simd::transpose_block(src + j0 * ldv + d0, ldv, block + d0 * Bk + j0, Bk);
            }
            for (index_t d = d0; d < D; ++d) {
                for (index_t j = j0; j < j0 + T; ++j) {
                    block[d * Bk + j] = src[j * ldv + d];
                }
            }
        }
        for (index_t j = j0; j < nk; ++j) {
            for (index_t d = 0; d < D; ++d) {
                block[d * Bk + j] = src[j * ldv + d];
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
                      index_t ldv, const float* v_blocks, float* out, index_t ldo, index_t q_begin,
                      index_t nq, index_t lk, index_t q_offset, float scale, index_t head,
                      const M& mask, const B& bias, const QT& q_transform,
                      flash_workspace<D, Bq, Bk>& ws) {
    using workspace = flash_workspace<D, Bq, Bk>;
    constexpr index_t W = flash_blocking::lanes;
    constexpr index_t T = workspace::block;
    constexpr index_t DP = workspace::padded_d;
    constexpr bool bias_by_rows = !is_no_bias_v<B> && !column_score_bias<B>;
    const index_t pos0 = q_offset + q_begin;
    const index_t nq_padded = round_up(nq, T);
    const index_t nqv = (nq + W - 1) / W;
    constexpr index_t groups = (Bq / W + flash_blocking::vecs - 1) / flash_blocking::vecs;

    // Q^T: rows loaded, transformed and scaled, then transposed (zero padding).
    for (index_t r = 0; r < nq_padded; ++r) {
        float* row = ws.rows + r * DP;
        if (r < nq) {
            std::memcpy(row, q + (q_begin + r) * ldq, D * sizeof(float));
            if constexpr (!is_no_transform_v<QT>) {
                q_transform.apply(pos0 + r, row, D);
            }
            scale_row(row, D, scale);
            std::fill(row + D, row + DP, 0.0f);
        } else {
            std::fill(row, row + DP, 0.0f);
        }
    }
    transpose_tile(ws.rows, DP, nq_padded, DP, ws.qt, Bq);
    std::fill(ws.ot, ws.ot + DP * Bq, 0.0f);
    std::fill(ws.m, ws.m + Bq, minus_infinity);
    std::fill(ws.l, ws.l + Bq, 0.0f);

    for (index_t k0 = 0; k0 < lk; k0 += Bk) {
        const index_t nk = std::min(Bk, lk - k0);
        const tile_visibility vis = mask.classify(pos0, pos0 + nq, k0, k0 + nk);
        if (vis == tile_visibility::hidden) {
            continue;
        }
        const float* kt = k + k0 * ldk;
        if (ldk != D) {
            copy_rows<D>(kt, ldk, nk, ws.k);
            kt = ws.k;
        }
        const bool partial = vis == tile_visibility::partial;
        index_t keys[groups];
        if (partial) {
            visible_keys_per_group<Bq>(mask, pos0, nq, k0, nk, ws.st, keys);
        } else {
            std::fill(keys, keys + groups, nk);
        }
        tile_product<D, 1, Bq, false, keys_are::rows>(kt, nk, ws.qt, D, ws.st, nqv, nullptr, keys);

        if (bias_by_rows || (partial && !column_attention_mask<M>)) {
            const index_t nk_padded = round_up(nk, T);
            transpose_tile(ws.st, Bq, nk_padded, nq_padded, ws.rows, Bk);
            for (index_t r = 0; r < nq; ++r) {
                float* row = ws.rows + r * Bk;
                if constexpr (bias_by_rows) {
                    bias.add(head, pos0 + r, k0, nk, row);
                }
                if constexpr (!column_attention_mask<M>) {
                    if (partial) {
                        mask.apply(pos0 + r, k0, nk, row);
                    }
                }
            }
            transpose_tile(ws.rows, Bk, nq_padded, nk_padded, ws.st, Bq);
        }
        if constexpr (column_score_bias<B>) {
            for (index_t j = 0; j < nk; ++j) {
                bias.add_column(head, k0 + j, pos0, nq, ws.st + j * Bq);
            }
        }
        if constexpr (column_attention_mask<M>) {
            if (partial) {
                for (index_t j = 0; j < nk; ++j) {
                    mask.apply_column(k0 + j, pos0, nq, ws.st + j * Bq);
                }
            }
        }
        online_softmax_columns<Bq>(ws.st, nk, ws.m, ws.l, ws.alpha);

        // Values transposed by key tile: packed once per head, or here for this tile alone.
        const float* vt = ws.v;
        if (v_blocks != nullptr) {
            vt = v_blocks + k0 / Bk * (D * Bk);
        } else {
            pack_values_transposed<D, Bk>(v + k0 * ldv, ldv, nk, ws.v);
        }
        tile_product<Bk, 1, Bq, true, keys_are::depth, D>(vt, D, ws.st, nk, ws.ot, nqv, ws.alpha,
                                                          keys);
    }

    // O^T back to rows, normalised by the running sums (fully masked queries give zeros).
    transpose_tile(ws.ot, Bq, DP, nq_padded, ws.rows, DP);
    for (index_t r = 0; r < nq; ++r) {
        float* dst = out + (q_begin + r) * ldo;
        if (ws.l[r] > 0.0f) {
            std::memcpy(dst, ws.rows + r * DP, D * sizeof(float));
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
template <index_t D, index_t Bq = flash_block_q, index_t Bk = flash_block_k, weight_type E, class M,
          class B, class QT>
void flash_heads(head_rows<const float> q, const kv_source<E>& kv, head_rows<float> out, index_t lq,
                 index_t n_heads, index_t n_kv_heads, const M& mask, const B& bias,
                 const QT& q_transform, index_t q_offset, float scale) {
    constexpr bool reduced = E != weight_type::f32;
    const index_t tiles = (lq + Bq - 1) / Bq;
    const index_t group = n_heads / n_kv_heads;
    // With several query tiles per head, each thread first packs the keys and values of its
    // head: key rows contiguous (copied only from a [L, H*D] projection, whose rows sit pages
    // apart), values transposed per key tile. Every tile then streams them sequentially. Keys
    // and values stored in reduced precision are always packed, widened to float: the tiles
    // then read floats only, whatever the cache holds.
    const bool pack_heads = tiles > 1 || reduced;
    const bool copy_keys = kv.k_row_stride != D || reduced;
    // Query tiles cost differently under a mask (under causal the last sees every key, the
    // first a few): threads then take items one at a time, each head's last tile first.
    // Without a mask they cost the same, and contiguous ranges keep each head on one thread
    // (one packing of its keys and values).
    constexpr item_schedule schedule =
        is_no_mask_v<M> ? item_schedule::equal : item_schedule::uneven;
    for_each_item_with_workspace<flash_workspace<D, Bq, Bk>, schedule>(
        n_heads * tiles,
        [&](index_t item, flash_workspace<D, Bq, Bk>& ws) {
            const index_t h = item / tiles;
            const index_t t = tiles - 1 - item % tiles;
            const index_t g = h / group;
            const index_t q_begin = t * Bq;
            const kv_storage_t<E>* k_source = kv.k + g * kv.k_head_stride;
            const kv_storage_t<E>* v_source = kv.v + g * kv.v_head_stride;
            const float* k = nullptr;
            const float* v = nullptr;
            index_t ldk = kv.k_row_stride;
            if constexpr (!reduced) {
                k = k_source;
                v = v_source;
            }
            const float* v_blocks = nullptr;
            if (pack_heads) {
                if (ws.packed_k != k_source) {
                    if (copy_keys) {
                        ws.head_k.resize(kv.length * D);
                        copy_rows<D, E>(k_source, ldk, kv.length, ws.head_k.data());
                    }
                    ws.head_v.resize(round_up(kv.length, Bk) * D);
                    if constexpr (reduced) {
                        ws.head_wide.resize(kv.length * D);
                        copy_rows<D, E>(v_source, kv.v_row_stride, kv.length, ws.head_wide.data());
                        pack_values_transposed<D, Bk>(ws.head_wide.data(), D, kv.length,
                                                      ws.head_v.data());
                    } else {
                        pack_values_transposed<D, Bk>(v_source, kv.v_row_stride, kv.length,
                                                      ws.head_v.data());
                    }
                    ws.packed_k = k_source;
                }
                if (copy_keys) {
                    k = ws.head_k.data();
                    ldk = D;
                }
                v_blocks = ws.head_v.data();
            }
            flash_query_tile<D, Bq, Bk>(q.data + h * q.head_stride, q.row_stride, k, ldk, v,
                                        kv.v_row_stride, v_blocks, out.data + h * out.head_stride,
                                        out.row_stride, q_begin, std::min(Bq, lq - q_begin),
                                        kv.length, q_offset, scale, h, mask, bias, q_transform, ws);
        },
        2.0 * static_cast<double>(n_heads) * static_cast<double>(lq) *
            static_cast<double>(kv.length) * static_cast<double>(D));
}

} // namespace ctt::detail
