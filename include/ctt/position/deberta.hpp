#pragma once
/**
 * @file
 * @brief DeBERTa's disentangled attention (He et al. 2020, arXiv:2006.03654, section 3.1; HF
 *        `deberta` and `deberta_v2` `DisentangledSelfAttention`) as a `score_bias`.
 *
 * The score of query i and key j is
 *
 *     s[i][j] = (q_i . k_j  +  c2p[i][j]  +  p2c[i][j]) / sqrt(head_dim * (1 + terms))
 *
 * with `terms` the number of position terms used (2 for "c2p|p2c"). With
 * `rel(i, j) = bucket(i - j)` (identity, or v2's log buckets) and `span` the attention span:
 *
 *     c2p[i][j] = q_i . Kr[clamp(rel(i, j) + span, 0, 2 span - 1)]
 *     p2c[i][j] = k_j . Qr[clamp(-rel(j, i) + span, 0, 2 span - 1)]
 *
 * `Kr`, `Qr` are the relative embeddings projected per head (`2 span` rows):
 * - v1 (`deberta`): `span = min(max(Lq, Lk), max_relative_positions)`, rows
 *   `[max_rel - span, max_rel + span)` of `rel_embeddings`; `Kr = pos_proj(rows)`,
 *   `Qr = pos_q_proj(rows)`; `q` includes `q_bias`.
 * - v2 (`deberta_v2`): `span = position_buckets` if > 0 else `max_relative_positions`, rows
 *   `[0, 2 span)` (after the optional LayerNorm `norm_rel_ebd`); with `share_att_key`
 *   `Kr = key_proj(rows)`, `Qr = query_proj(rows)`, else `pos_key_proj` / `pos_query_proj`.
 * The kernel runs with `scale = deberta_scale(head_dim, terms)` on plain q and k; this bias adds
 * the two position terms already multiplied by that scale (HF v1 divides q and Qr by it first,
 * v2 divides each term; the sums agree to rounding).
 *
 * Per call the bias builds `c2p_table[h][i][b] = q_i . Kr[b]` and `p2c_table[h][j][b] =
 * k_j . Qr[b]` (`O(L * 2 span)` per head, never `L x L`), and index tables of the bucket of
 * every relative position; `add` then gathers two entries per key.
 *
 * Positions: HF numbers queries and keys from 0 in every call (it has no cache); ctt's absolute
 * positions give the same `i - j` when `q_offset = 0` (Lq = Lk, the encoder).
 */

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/position/position_concepts.hpp"
#include "ctt/position/relative_xl.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt {

/**
 * @brief DeBERTa-v2's `make_log_bucket_position` for one relative position: distances below
 *        `bucket_size / 2` stay exact, longer ones map to
 *        `sign * (mid + ceil(log(|d| / mid) / log((max_position - 1) / mid) * (mid - 1)))`,
 *        computed in float32 as PyTorch does.
 */
[[nodiscard]] inline std::ptrdiff_t deberta_log_bucket_position(std::ptrdiff_t relative_position,
                                                                std::ptrdiff_t bucket_size,
                                                                std::ptrdiff_t max_position) {
    const std::ptrdiff_t mid = bucket_size / 2;
    const std::ptrdiff_t abs_rel = relative_position < 0 ? -relative_position : relative_position;
    if (abs_rel <= mid) {
        // HF substitutes mid - 1 for |d| < mid and then keeps d itself wherever |d| <= mid.
        return relative_position;
    }
    const auto ratio = static_cast<float>(abs_rel) / static_cast<float>(mid);
    const auto log_ratio = static_cast<float>(std::log(static_cast<double>(ratio)));
    const auto log_max = static_cast<float>(std::log(static_cast<double>(
        static_cast<float>(static_cast<double>(max_position - 1) / static_cast<double>(mid)))));
    const float scaled = log_ratio / log_max * static_cast<float>(mid - 1);
    const auto log_pos = static_cast<std::ptrdiff_t>(std::ceil(scaled)) + mid;
    return relative_position < 0 ? -log_pos : log_pos;
}

/**
 * @brief The relative position DeBERTa uses for query position `q` and key position `k`:
 *        `q - k`, log-bucketed when `bucket_size > 0 && max_position > 0`
 *        (HF `build_relative_position`).
 */
[[nodiscard]] inline std::ptrdiff_t deberta_relative_position(std::ptrdiff_t q, std::ptrdiff_t k,
                                                              std::ptrdiff_t bucket_size = -1,
                                                              std::ptrdiff_t max_position = -1) {
    const std::ptrdiff_t rel = q - k;
    if (bucket_size > 0 && max_position > 0) {
        return deberta_log_bucket_position(rel, bucket_size, max_position);
    }
    return rel;
}

/// DeBERTa v1's attention span: `min(max(q_len, k_len), max_relative_positions)`.
[[nodiscard]] inline index_t deberta_v1_span(index_t q_len, index_t k_len,
                                             index_t max_relative_positions) noexcept {
    return std::min(std::max(q_len, k_len), max_relative_positions);
}

/**
 * @brief The score scale of disentangled attention: `1 / sqrt(head_dim * (1 + terms))`, the
 *        square root taken in float32 as HF's `scaled_size_sqrt`.
 */
[[nodiscard]] inline float deberta_scale(index_t head_dim, index_t position_terms) noexcept {
    const float size = static_cast<float>(head_dim) * static_cast<float>(1 + position_terms);
    return 1.0f / std::sqrt(size);
}

/// Settings of `deberta_relative_bias`.
struct deberta_bias_options {
    index_t num_heads = 1;
    /// The attention span (v1: `deberta_v1_span`; v2: `position_buckets` or
    /// `max_relative_positions`).
    index_t span = 0;
    /// v2 log buckets: `position_buckets` (<= 0: none, as v1).
    std::ptrdiff_t position_buckets = -1;
    /// v2 `max_relative_positions` (the log-bucket range).
    std::ptrdiff_t max_relative_positions = -1;
    bool c2p = true;      ///< "c2p" in `pos_att_type`
    bool p2c = true;      ///< "p2c" in `pos_att_type`
    float scale = 1.0f;   ///< `deberta_scale(head_dim, c2p + p2c)`
    index_t q_offset = 0; ///< position of query row 0
};

/**
 * @brief DeBERTa's c2p + p2c terms as a `score_bias`:
 *        `row[t] += scale * (c2p[i][k] + p2c[i][k])`, `i = q_pos - q_offset`, `k = k_begin + t`.
 *
 * Owns its per-call tables (`heads * (Lq + Lk) * 2 span` floats); holds no view after
 * construction.
 */
class deberta_relative_bias {
public:
    /**
     * @param q         projected queries `[Lq, heads * head_dim]` (v1: with `q_bias`).
     * @param k         projected keys `[Lk, heads * head_dim]`.
     * @param pos_key   `Kr`, `[2 span, heads * head_dim]` (read when `c2p`).
     * @param pos_query `Qr`, `[2 span, heads * head_dim]` (read when `p2c`).
     * @throws shape_error when widths or table rows do not match.
     */
    deberta_relative_bias(matrix_ref q, matrix_ref k, matrix_ref pos_key, matrix_ref pos_query,
                          const deberta_bias_options& options)
        : opt_(options)
        , q_len_(q.rows)
        , k_len_(k.rows)
        , head_dim_(options.num_heads == 0 ? 0 : q.cols / options.num_heads)
        , buckets_(2 * options.span) {
        const index_t width = opt_.num_heads * head_dim_;
        detail::check_dims(CTT_MSG_REL_WIDTH, q.cols, width);
        detail::check_dims(CTT_MSG_REL_WIDTH, k.cols, width);
        if (opt_.c2p) {
            detail::check_dims(CTT_MSG_REL_WIDTH, pos_key.cols, width);
            detail::check_dims(CTT_MSG_REL_TABLE_ROWS, pos_key.rows, buckets_);
            c2p_ = project(q, pos_key);
        }
        if (opt_.p2c) {
            detail::check_dims(CTT_MSG_REL_WIDTH, pos_query.cols, width);
            detail::check_dims(CTT_MSG_REL_TABLE_ROWS, pos_query.rows, buckets_);
            p2c_ = project(k, pos_query);
        }
        // Relative positions q_pos - k_pos range over [q_offset - (Lk - 1), q_offset + Lq - 1].
        rel_min_ =
            static_cast<std::ptrdiff_t>(opt_.q_offset) - static_cast<std::ptrdiff_t>(k_len_) + 1;
        const std::ptrdiff_t rel_max = static_cast<std::ptrdiff_t>(opt_.q_offset + q_len_) - 1;
        const std::ptrdiff_t count = rel_max >= rel_min_ ? rel_max - rel_min_ + 1 : 0;
        c2p_index_.resize(static_cast<index_t>(count));
        p2c_index_.resize(static_cast<index_t>(count));
        const auto span = static_cast<std::ptrdiff_t>(opt_.span);
        const auto clamp_bucket = [&](std::ptrdiff_t b) {
            return static_cast<index_t>(std::clamp<std::ptrdiff_t>(b + span, 0, 2 * span - 1));
        };
        for (std::ptrdiff_t d = 0; d < count; ++d) {
            const std::ptrdiff_t rel = rel_min_ + d; // q_pos - k_pos
            c2p_index_[static_cast<index_t>(d)] = clamp_bucket(deberta_relative_position(
                rel, 0, opt_.position_buckets, opt_.max_relative_positions));
            p2c_index_[static_cast<index_t>(d)] = clamp_bucket(-deberta_relative_position(
                -rel, 0, opt_.position_buckets, opt_.max_relative_positions));
        }
    }

    [[nodiscard]] index_t num_heads() const noexcept { return opt_.num_heads; }
    [[nodiscard]] index_t head_dim() const noexcept { return head_dim_; }
    [[nodiscard]] const deberta_bias_options& options() const noexcept { return opt_; }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const index_t i = detail::query_row(q_pos, opt_.q_offset, q_len_);
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, k_begin + n, k_len_);
        const std::ptrdiff_t rel0 =
            static_cast<std::ptrdiff_t>(q_pos) - static_cast<std::ptrdiff_t>(k_begin) - rel_min_;
        const float s = opt_.scale;
        if (opt_.c2p) {
            const float* c = c2p_.data() + (head * q_len_ + i) * buckets_;
            for (index_t t = 0; t < n; ++t) {
                const auto d = static_cast<index_t>(rel0 - static_cast<std::ptrdiff_t>(t));
                row[t] += s * c[c2p_index_[d]];
            }
        }
        if (opt_.p2c) {
            const float* p = p2c_.data() + (head * k_len_ + k_begin) * buckets_;
            for (index_t t = 0; t < n; ++t) {
                const auto d = static_cast<index_t>(rel0 - static_cast<std::ptrdiff_t>(t));
                row[t] += s * p[t * buckets_ + p2c_index_[d]];
            }
        }
    }

    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        if (n == 0) {
            return;
        }
        const index_t i0 = detail::query_row(q_begin, opt_.q_offset, q_len_);
        static_cast<void>(detail::query_row(q_begin + n - 1, opt_.q_offset, q_len_)); // last too
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, k_pos + 1, k_len_);
        // Index of (q_begin + t, k_pos) in the relative-position tables: rel0 + t.
        const std::ptrdiff_t rel0 =
            static_cast<std::ptrdiff_t>(q_begin) - static_cast<std::ptrdiff_t>(k_pos) - rel_min_;
        const float s = opt_.scale;
        if (opt_.c2p) {
            const float* c = c2p_.data() + (head * q_len_ + i0) * buckets_;
            for (index_t t = 0; t < n; ++t) {
                const auto d = static_cast<index_t>(rel0 + static_cast<std::ptrdiff_t>(t));
                col[t] += s * c[t * buckets_ + c2p_index_[d]];
            }
        }
        if (opt_.p2c) {
            const float* p = p2c_.data() + (head * k_len_ + k_pos) * buckets_;
            for (index_t t = 0; t < n; ++t) {
                const auto d = static_cast<index_t>(rel0 + static_cast<std::ptrdiff_t>(t));
                col[t] += s * p[p2c_index_[d]];
            }
        }
    }

private:
    /// `out[h][r][b] = x_r^h . table_b^h` for every head, row and bucket. The head's block of
    /// the table is transposed once (`[head_dim][2 span]`), so each row is a sum of
    /// `x[d] * table^T[d]` over SIMD blocks of buckets, with no horizontal reduction.
    std::vector<float> project(matrix_ref x, matrix_ref table) const {
        using batch = simd::batch<float>;
        constexpr index_t w = simd::width<float>;
        std::vector<float> out(opt_.num_heads * x.rows * buckets_);
        // Heads in parallel: each writes its own block, so the result is the same on any number
        // of threads.
        simd::parallel_for(0, opt_.num_heads, [&](index_t h) {
            std::vector<float> transposed(head_dim_ * buckets_);
            for (index_t b = 0; b < buckets_; ++b) {
                const float* t = table.row(b) + h * head_dim_;
                for (index_t d = 0; d < head_dim_; ++d) {
                    transposed[d * buckets_ + b] = t[d];
                }
            }
            for (index_t r = 0; r < x.rows; ++r) {
                const float* xr = x.row(r) + h * head_dim_;
                float* o = out.data() + (h * x.rows + r) * buckets_;
                index_t b0 = 0;
                for (; b0 + 4 * w <= buckets_; b0 += 4 * w) {
                    batch acc[4] = {batch(0.f), batch(0.f), batch(0.f), batch(0.f)};
                    for (index_t d = 0; d < head_dim_; ++d) {
                        const batch xd(xr[d]);
                        const float* t = transposed.data() + d * buckets_ + b0;
                        for (index_t u = 0; u < 4; ++u) {
                            acc[u] = xsimd::fma(xd, simd::load(t + u * w), acc[u]);
                        }
                    }
                    for (index_t u = 0; u < 4; ++u) {
                        simd::store(o + b0 + u * w, acc[u]);
                    }
                }
                for (; b0 < buckets_; b0 += w) {
                    const index_t lanes = std::min(w, buckets_ - b0);
                    batch acc(0.f);
                    for (index_t d = 0; d < head_dim_; ++d) {
                        acc = xsimd::fma(batch(xr[d]),
                                         simd::load_n(transposed.data() + d * buckets_ + b0, lanes),
                                         acc);
                    }
                    simd::store_n(o + b0, acc, lanes);
                }
            }
        });
        return out;
    }

    deberta_bias_options opt_;
    index_t q_len_;
    index_t k_len_;
    index_t head_dim_;
    index_t buckets_;
    std::ptrdiff_t rel_min_ = 0;
    std::vector<float> c2p_;
    std::vector<float> p2c_;
    std::vector<index_t> c2p_index_;
    std::vector<index_t> p2c_index_;
};

static_assert(column_score_bias<deberta_relative_bias>);

} // namespace ctt
