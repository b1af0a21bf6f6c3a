#pragma once
/**
 * @file
 * @brief XLNet's relative segment encoding (Yang et al. 2019, arXiv:1906.08237, section 2.5;
 *        HF's `XLNetRelativeAttention.rel_attn_core`, the `ef` term) as a `score_bias`.
 *
 * Whether two positions are in the same segment, not which segments they are, enters the score:
 *
 *     ef[i][j] = (q_i + r_s_bias) . seg_embed[ s_ij ],   s_ij = 0 if type_i == type_j, else 1,
 *
 * added with the content and position terms before the scale (`scale * (ac + bd + ef)`). Per
 * query row and head only two dot products exist, so the bias keeps those (`O(Lq * heads)`)
 * and reads the token types of the query and key.
 */

#include <cstdint>
#include <span>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/position/position_concepts.hpp"

namespace ctt {

/**
 * @brief `row[t] += scale * e[i][head][same(i, k) ? 0 : 1]` with `i = q_pos - q_offset` and
 *        `k = k_begin + t`, `e[i][h][s] = (q_i + r_s_bias) . seg_embed[s]` over head h's columns.
 *
 * Keeps views of `query_types` (`Lq` ids) and `key_types` (`Lk` ids, memory first: HF gives
 * memory tokens type 0), which must outlive it.
 */
class segment_bias {
public:
    /**
     * @param q           raw projected queries `[Lq, heads * head_dim]`.
     * @param r_s_bias    `[heads * head_dim]`.
     * @param seg_embed   `[2, heads * head_dim]`: row 0 for the same segment, row 1 for another.
     * @param num_heads   heads.
     * @param scale       the attention scale (`1/sqrt(d_head)`).
     * @param q_offset    position of query row 0 among the keys.
     * @throws shape_error when the widths differ or `seg_embed` does not have 2 rows.
     */
    segment_bias(matrix_ref q, std::span<const float> r_s_bias, matrix_ref seg_embed,
                 index_t num_heads, float scale, index_t q_offset,
                 std::span<const std::int32_t> query_types, std::span<const std::int32_t> key_types)
        : q_len_(q.rows)
        , num_heads_(num_heads)
        , q_offset_(q_offset)
        , query_types_(query_types)
        , key_types_(key_types)
        , dots_(q.rows * num_heads * 2) {
        const index_t head_dim = num_heads == 0 ? 0 : q.cols / num_heads;
        detail::check_dims(CTT_MSG_REL_WIDTH, q.cols, num_heads * head_dim);
        detail::check_dims(CTT_MSG_REL_WIDTH, r_s_bias.size(), q.cols);
        detail::check_dims(CTT_MSG_REL_WIDTH, seg_embed.cols, q.cols);
        detail::check_dims("segment_bias: seg_embed rows and 2 differ", seg_embed.rows, 2);
        detail::check_dims("segment_bias: query types and query rows differ", query_types.size(),
                           q.rows);
        for (index_t i = 0; i < q.rows; ++i) {
            for (index_t h = 0; h < num_heads; ++h) {
                for (index_t s = 0; s < 2; ++s) {
                    float acc = 0;
                    for (index_t e = h * head_dim; e < (h + 1) * head_dim; ++e) {
                        acc += (q.row(i)[e] + r_s_bias[e]) * seg_embed.row(s)[e];
                    }
                    dots_[(i * num_heads + h) * 2 + s] = scale * acc;
                }
            }
        }
    }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const index_t i = detail::query_row(q_pos, q_offset_, q_len_);
        const float* e = dots_.data() + (i * num_heads_ + head) * 2;
        const std::int32_t type = query_types_[i];
        detail::check_at_most("segment_bias: key position and key types differ", k_begin + n,
                              key_types_.size());
        const float same = e[0];
        const float other = e[1];
        for (index_t t = 0; t < n; ++t) {
            row[t] += key_types_[k_begin + t] == type ? same : other;
        }
    }

    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        detail::check_at_most("segment_bias: key position and key types differ", k_pos + 1,
                              key_types_.size());
        const std::int32_t key_type = key_types_[k_pos];
        for (index_t t = 0; t < n; ++t) {
            const index_t i = detail::query_row(q_begin + t, q_offset_, q_len_);
            col[t] += dots_[(i * num_heads_ + head) * 2 + (query_types_[i] == key_type ? 0 : 1)];
        }
    }

private:
    index_t q_len_;
    index_t num_heads_;
    index_t q_offset_;
    std::span<const std::int32_t> query_types_;
    std::span<const std::int32_t> key_types_;
    std::vector<float> dots_;
};

static_assert(column_score_bias<segment_bias>);

} // namespace ctt
