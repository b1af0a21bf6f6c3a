#pragma once
/**
 * @file
 * @brief Transformer-XL relative attention (Dai et al. 2019, arXiv:1901.02860, section 3.3;
 *        kimiyoung/transformer-xl `RelPartialLearnableMultiHeadAttn`) split into ctt's roles.
 *
 * The reference computes, per head, with `d = (mlen + i) - j` the distance from query i to key j:
 *
 *     score[i][j] = scale * ( (q_i + u) . k_j          (AC: content, r_w_bias = u)
 *                           + (q_i + v) . R_d )        (BD: position, r_r_bias = v)
 *
 * where `R = r_net(pos_emb)` is the projected sinusoid of the distances
 * `klen-1, klen-2, ..., 0` (row r holds distance `klen - 1 - r`), keys are the memory followed
 * by the segment (`klen = mlen + qlen`), and `scale = 1/sqrt(d_head)`. The reference computes BD
 * for every (i, r) and then `_rel_shift`s it, which moves row i left by `qlen - 1 - i`: entry
 * (i, j) of the shifted matrix is BD at row `r = j + qlen - 1 - i`, i.e. distance
 * `klen - 1 - r = mlen + i - j`, for every `j <= i + mlen`. Entries with `j > i + mlen` hold a
 * zero or the next row's values, and the reference masks them (`triu(..., 1 + mlen)`).
 *
 * In ctt:
 * 1. `xl_add_content_bias(q, u, ...)` forms `q + u` (the query the kernel dots with K);
 * 2. `xl_relative_bias(q, v, R, ...)` is the `score_bias` adding `scale * (q_i + v) . R_d`
 *    on demand (no `L x L` matrix), reading R by distance, which is exactly what `_rel_shift`
 *    selects;
 * 3. the kernel runs with `scale = 1/sqrt(d_head)`, a causal mask aligned bottom-right
 *    (query i at position `mlen + i`, keys `0 .. klen-1` = memory then segment, key j visible
 *    iff `j <= mlen + i`, which is the reference's mask), and K/V = `[memory; segment]`.
 * Entries the mask hides (negative distances) get no bias here.
 *
 * XLNet's relative attention has the same position term with `first_distance = klen` and
 * `klen + qlen` rows (bidirectional); this bias serves it too (negative distances then have rows).
 */

#include <cstddef>
#include <span>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/position/position_concepts.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/**
 * @brief `q[t][h*head_dim + e] += bias[h*head_dim + e]` for every row t: forms `q + u`
 *        (Transformer-XL's `r_w_bias`) or `q + v` in place. `bias` holds `[num_heads, head_dim]`
 *        row-major, the reference's layout.
 * @throws shape_error when the row width and `bias.size()` differ.
 */
template <index_t L, index_t W>
void xl_add_content_bias(tensor_view<float, shape<L, W>> q, std::span<const float> bias) {
    detail::check_dims(CTT_MSG_REL_WIDTH, q.cols(), bias.size());
    for (index_t t = 0; t < q.rows(); ++t) {
        float* row = q[t].data();
        simd::for_each_register(q.cols(), [&](index_t i, index_t lanes) {
            simd::store_n(row + i,
                          simd::load_n(row + i, lanes) + simd::load_n(bias.data() + i, lanes),
                          lanes);
        });
    }
}

namespace detail {
/// Dot product of two float vectors of length n.
[[nodiscard]] inline float dot(const float* a, const float* b, index_t n) noexcept {
    simd::batch<float> acc(0.0f);
    index_t i = 0;
    constexpr index_t w = simd::width<float>;
    for (; i + w <= n; i += w) {
        acc = xsimd::fma(simd::load(a + i), simd::load(b + i), acc);
    }
    float s = simd::reduce_add(acc);
    for (; i < n; ++i) {
        s += a[i] * b[i];
    }
    return s;
}
} // namespace detail

/**
 * @brief The position term of Transformer-XL attention as a `score_bias`:
 *        `row[t] += scale * (q_i + v_h) . R_h[first_distance - (q_pos - k)]`, with
 *        `i = q_pos - q_offset` and `k = k_begin + t`; nothing is added where that R row does
 *        not exist (positions the causal mask hides).
 *
 * It copies `q + v` at construction (`O(Lq * heads * head_dim)`), so the raw query may be
 * turned into `q + u` in place afterwards; it keeps a view of `r`, which must outlive it.
 */
class xl_relative_bias {
public:
    /**
     * @param q              raw projected queries `[qlen, num_heads * head_dim]` (before u).
     * @param v              `r_r_bias`, `[num_heads * head_dim]`.
     * @param r              projected relative sinusoids `[rlen, num_heads * head_dim]`
     *                       (`r_net(pos_emb)`); row r holds distance `first_distance - r`.
     * @param num_heads      heads; `head_dim = q.cols / num_heads`.
     * @param scale          `1/sqrt(d_head)` (the reference scales AC + BD together).
     * @param q_offset       position of query row 0: `mlen` (= klen - qlen).
     * @param first_distance distance of row 0 of `r`; `rlen - 1` for Transformer-XL (default,
     *                       negative = `r.rows - 1`), `klen` for XLNet.
     * @throws shape_error when the widths of q, v and r differ or do not split into heads.
     */
    xl_relative_bias(matrix_ref q, std::span<const float> v, matrix_ref r, index_t num_heads,
                     float scale, index_t q_offset, std::ptrdiff_t first_distance = -1)
        : q_len_(q.rows)
        , width_(q.cols)
        , num_heads_(num_heads)
        , head_dim_(num_heads == 0 ? 0 : q.cols / num_heads)
        , scale_(scale)
        , q_offset_(q_offset)
        , first_distance_(first_distance < 0 ? static_cast<std::ptrdiff_t>(r.rows) - 1
                                             : first_distance)
        , r_(r)
        , qv_(q.rows * q.cols) {
        detail::check_dims(CTT_MSG_REL_WIDTH, q.cols, num_heads * head_dim_);
        detail::check_dims(CTT_MSG_REL_WIDTH, v.size(), width_);
        detail::check_dims(CTT_MSG_REL_WIDTH, r.cols, width_);
        for (index_t i = 0; i < q_len_; ++i) {
            const float* src = q.row(i);
            for (index_t e = 0; e < width_; ++e) {
                qv_[i * width_ + e] = src[e] + v[e];
            }
        }
    }

    [[nodiscard]] index_t num_heads() const noexcept { return num_heads_; }
    [[nodiscard]] index_t head_dim() const noexcept { return head_dim_; }
    [[nodiscard]] index_t q_offset() const noexcept { return q_offset_; }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const index_t i = detail::query_row(q_pos, q_offset_, q_len_);
        const float* qv = qv_.data() + i * width_ + head * head_dim_;
        const auto rlen = static_cast<std::ptrdiff_t>(r_.rows);
        for (index_t t = 0; t < n; ++t) {
            const std::ptrdiff_t dist =
                static_cast<std::ptrdiff_t>(q_pos) - static_cast<std::ptrdiff_t>(k_begin + t);
            const std::ptrdiff_t r = first_distance_ - dist;
            if (r < 0 || r >= rlen) {
                continue;
            }
            const float* rr = r_.row(static_cast<index_t>(r)) + head * head_dim_;
            row[t] += scale_ * detail::dot(qv, rr, head_dim_);
        }
    }

    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        const auto rlen = static_cast<std::ptrdiff_t>(r_.rows);
        for (index_t t = 0; t < n; ++t) {
            const index_t q_pos = q_begin + t;
            const index_t i = detail::query_row(q_pos, q_offset_, q_len_);
            const std::ptrdiff_t dist =
                static_cast<std::ptrdiff_t>(q_pos) - static_cast<std::ptrdiff_t>(k_pos);
            const std::ptrdiff_t r = first_distance_ - dist;
            if (r < 0 || r >= rlen) {
                continue;
            }
            const float* qv = qv_.data() + i * width_ + head * head_dim_;
            const float* rr = r_.row(static_cast<index_t>(r)) + head * head_dim_;
            col[t] += scale_ * detail::dot(qv, rr, head_dim_);
        }
    }

private:
    index_t q_len_;
    index_t width_;
    index_t num_heads_;
    index_t head_dim_;
    float scale_;
    index_t q_offset_;
    std::ptrdiff_t first_distance_;
    matrix_ref r_;
    std::vector<float> qv_;
};

static_assert(column_score_bias<xl_relative_bias>);

} // namespace ctt
