#pragma once
/**
 * @file
 * @brief Transformer-XL's position term for a block of queries, computed by one GEMM per head
 *        over the band of R rows the block reads (Dai et al. 2019, arXiv:1901.02860,
 *        appendix B: the `rel_shift` trick computes `(q + v) R^T` as a matrix product, then
 *        shifts it).
 *
 * `xl_relative_bias` computes every entry on demand, one dot product of `head_dim` and its
 * horizontal sum per (query, key). Here a block of `Lb` queries at positions `p0 .. p0 + Lb -
 * 1` over `Lk` keys reads only the R rows of distances `p0 + Lb - 1 - (Lk - 1) .. p0` shifted by
 * `first_distance`: `Lb + Lk - 1` rows. Their products with the block's `q + v` are one
 * `[Lb, band]` GEMM per head, run at the GEMM's speed; the score bias then reads entry (i, r)
 * of that table for query i and the R row of key k, a contiguous run along a key row. The table
 * is the block's, `O(Lb * (Lb + Lk))` per head: no `L x L` matrix is formed when the caller
 * walks the queries block by block (`relative_attention_block` uses blocks of 64).
 *
 * Entries whose R row does not exist get no bias, as in `xl_relative_bias` (the positions the
 * causal mask hides).
 */

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/position/position_concepts.hpp"

namespace ctt {

/**
 * @brief `row[t] += scale * (q_i + v_h) . R_h[first_distance - (q_pos - k)]` for the queries of
 *        one block (`i = q_pos - q_offset`), from a table computed at construction.
 */
class xl_relative_band_bias {
public:
    /**
     * @param q              raw projected queries of the block `[Lb, heads * head_dim]`.
     * @param v              `r_r_bias`, `[heads * head_dim]`.
     * @param r              projected sinusoids `[rlen, heads * head_dim]`; row r holds distance
     *                       `first_distance - r`.
     * @param num_heads      heads.
     * @param scale          the attention scale.
     * @param q_offset       position of the block's first query.
     * @param first_distance distance of R's row 0.
     * @param keys           the keys the block attends to (positions `0 .. keys - 1`).
     * @throws shape_error when the widths of q, v and r differ or do not split into heads.
     */
    xl_relative_band_bias(matrix_ref q, std::span<const float> v, matrix_ref r, index_t num_heads,
                          float scale, index_t q_offset, std::ptrdiff_t first_distance,
                          index_t keys)
        : q_len_(q.rows)
        , num_heads_(num_heads)
        , q_offset_(q_offset)
        , first_distance_(first_distance) {
        const index_t width = q.cols;
        const index_t head_dim = num_heads == 0 ? 0 : width / num_heads;
        detail::check_dims(CTT_MSG_REL_WIDTH, width, num_heads * head_dim);
        detail::check_dims(CTT_MSG_REL_WIDTH, v.size(), width);
        detail::check_dims(CTT_MSG_REL_WIDTH, r.cols, width);
        if (q_len_ == 0 || keys == 0) {
            return;
        }
        // R rows read by the block: first - (p - k) for p in the block, k < keys.
        const auto p_first = static_cast<std::ptrdiff_t>(q_offset);
        const auto p_last = p_first + static_cast<std::ptrdiff_t>(q_len_) - 1;
        const auto rlen = static_cast<std::ptrdiff_t>(r.rows);
        const std::ptrdiff_t lo = std::max<std::ptrdiff_t>(0, first_distance - p_last);
        const std::ptrdiff_t hi = std::min<std::ptrdiff_t>(
            rlen, first_distance - p_first + static_cast<std::ptrdiff_t>(keys));
        if (lo >= hi) {
            return;
        }
        r_first_ = lo;
        band_ = static_cast<index_t>(hi - lo);
        std::vector<float> qv(q_len_ * width);
        for (index_t i = 0; i < q_len_; ++i) {
            for (index_t e = 0; e < width; ++e) {
                qv[i * width + e] = q.row(i)[e] + v[e];
            }
        }
        table_.resize(num_heads * q_len_ * band_);
        for (index_t h = 0; h < num_heads; ++h) {
            kernels::gemm(q_len_, band_, head_dim, qv.data() + h * head_dim, width,
                          r.row(static_cast<index_t>(lo)) + h * head_dim, r.row_stride,
                          kernels::transpose::yes, table_.data() + h * q_len_ * band_, band_,
                          scale);
        }
    }

    [[nodiscard]] index_t num_heads() const noexcept { return num_heads_; }
    [[nodiscard]] index_t band() const noexcept { return band_; }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const index_t i = detail::query_row(q_pos, q_offset_, q_len_);
        if (band_ == 0) {
            return;
        }
        // Key k_begin + t reads table column c0 + t.
        const std::ptrdiff_t c0 = first_distance_ - static_cast<std::ptrdiff_t>(q_pos) +
                                  static_cast<std::ptrdiff_t>(k_begin) - r_first_;
        const std::ptrdiff_t t_lo = std::max<std::ptrdiff_t>(0, -c0);
        const std::ptrdiff_t t_hi = std::min<std::ptrdiff_t>(
            static_cast<std::ptrdiff_t>(n), static_cast<std::ptrdiff_t>(band_) - c0);
        const float* entries = table_.data() + (head * q_len_ + i) * band_;
        for (std::ptrdiff_t t = t_lo; t < t_hi; ++t) {
            row[t] += entries[c0 + t];
        }
    }

    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        if (n == 0) {
            return;
        }
        const index_t i0 = detail::query_row(q_begin, q_offset_, q_len_);
        (void)detail::query_row(q_begin + n - 1, q_offset_, q_len_);
        if (band_ == 0) {
            return;
        }
        // Query q_begin + t reads table column c0 - t of its own row.
        const std::ptrdiff_t c0 = first_distance_ - static_cast<std::ptrdiff_t>(q_begin) +
                                  static_cast<std::ptrdiff_t>(k_pos) - r_first_;
        const std::ptrdiff_t t_lo =
            std::max<std::ptrdiff_t>(0, c0 - static_cast<std::ptrdiff_t>(band_) + 1);
        const std::ptrdiff_t t_hi =
            std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(n), c0 + 1);
        const float* entries = table_.data() + (head * q_len_ + i0) * band_;
        const auto step = static_cast<std::ptrdiff_t>(band_) - 1;
        for (std::ptrdiff_t t = t_lo; t < t_hi; ++t) {
            col[t] += entries[t * step + c0];
        }
    }

private:
    index_t q_len_;
    index_t num_heads_;
    index_t q_offset_;
    std::ptrdiff_t first_distance_;
    std::ptrdiff_t r_first_ = 0;
    index_t band_ = 0;
    std::vector<float> table_;
};

static_assert(column_score_bias<xl_relative_band_bias>);

} // namespace ctt
