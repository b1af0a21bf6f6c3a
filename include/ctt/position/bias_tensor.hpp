#pragma once
/**
 * @file
 * @brief An arbitrary additive score bias read from memory, `[heads, Lq, Lk]`, `[1, Lq, Lk]`
 *        or `[Lq, Lk]` (broadcast over heads), as a `score_bias`: SDPA's float `attn_mask`,
 *        a precomputed relative bias, or a bias a model builds itself.
 *
 * Rows are queries, columns keys. Query row i sits at absolute position `q_offset + i` (by
 * default `Lk - Lq`, the kernels' bottom-right alignment), key column j at position j.
 */

#include <cstddef>
#include <type_traits>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/position/position_concepts.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/**
 * @brief `row[t] += bias[head or 0][q_pos - q_offset][k_begin + t]`. Holds a view: the memory
 *        must outlive the bias.
 */
class bias_tensor {
public:
    /// A `[heads or 1, Lq, Lk]` bias; a leading extent of 1 broadcasts over heads.
    template <class T, index_t H, index_t Q, index_t K>
    requires(std::same_as<std::remove_const_t<T>, float>) explicit bias_tensor(
        tensor_view<T, shape<H, Q, K>> bias)
        : bias_tensor(bias.data(), bias.extent(0), bias.extent(1), bias.extent(2), bias.stride(0),
                      bias.stride(1), bias.extent(2) - bias.extent(1)) {}

    /// As above, with an explicit position of query row 0.
    template <class T, index_t H, index_t Q, index_t K>
    requires(std::same_as<std::remove_const_t<T>, float>)
        bias_tensor(tensor_view<T, shape<H, Q, K>> bias, index_t q_offset)
        : bias_tensor(bias.data(), bias.extent(0), bias.extent(1), bias.extent(2), bias.stride(0),
                      bias.stride(1), q_offset) {}

    /// An `[Lq, Lk]` bias shared by every head.
    template <class T, index_t Q, index_t K>
    requires(std::same_as<std::remove_const_t<T>, float>) explicit bias_tensor(
        tensor_view<T, shape<Q, K>> bias)
        : bias_tensor(bias.data(), 1, bias.rows(), bias.cols(), 0, bias.row_stride(),
                      bias.cols() - bias.rows()) {}

    /// As above, with an explicit position of query row 0.
    template <class T, index_t Q, index_t K>
    requires(std::same_as<std::remove_const_t<T>, float>)
        bias_tensor(tensor_view<T, shape<Q, K>> bias, index_t q_offset)
        : bias_tensor(bias.data(), 1, bias.rows(), bias.cols(), 0, bias.row_stride(), q_offset) {}

    /**
     * @brief The general form: `heads` blocks (1 = broadcast) of `q_len x k_len` floats,
     *        `head_stride` and `row_stride` elements apart.
     */
    bias_tensor(const float* data, index_t heads, index_t q_len, index_t k_len, index_t head_stride,
                index_t row_stride, index_t q_offset) noexcept
        : data_(data)
        , heads_(heads)
        , q_len_(q_len)
        , k_len_(k_len)
        , head_stride_(heads == 1 ? 0 : head_stride)
        , row_stride_(row_stride)
        , q_offset_(q_offset) {}

    [[nodiscard]] index_t heads() const noexcept { return heads_; }
    [[nodiscard]] index_t q_len() const noexcept { return q_len_; }
    [[nodiscard]] index_t k_len() const noexcept { return k_len_; }
    [[nodiscard]] index_t q_offset() const noexcept { return q_offset_; }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const index_t i = detail::query_row(q_pos, q_offset_, q_len_);
        if (heads_ != 1) {
            detail::check_at_most(CTT_MSG_BIAS_TENSOR_HEADS, head + 1, heads_);
        }
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, k_begin + n, k_len_);
        const float* src = data_ + head * head_stride_ + i * row_stride_ + k_begin;
        simd::for_each_register(n, [&](index_t t, index_t lanes) {
            simd::store_n(row + t, simd::load_n(row + t, lanes) + simd::load_n(src + t, lanes),
                          lanes);
        });
    }

    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        if (n == 0) {
            return;
        }
        const index_t i = detail::query_row(q_begin, q_offset_, q_len_);
        static_cast<void>(detail::query_row(q_begin + n - 1, q_offset_, q_len_)); // last in range
        if (heads_ != 1) {
            detail::check_at_most(CTT_MSG_BIAS_TENSOR_HEADS, head + 1, heads_);
        }
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, k_pos + 1, k_len_);
        const float* src = data_ + head * head_stride_ + i * row_stride_ + k_pos;
        for (index_t t = 0; t < n; ++t) {
            col[t] += src[t * row_stride_];
        }
    }

private:
    const float* data_;
    index_t heads_;
    index_t q_len_;
    index_t k_len_;
    index_t head_stride_;
    index_t row_stride_;
    index_t q_offset_;
};

static_assert(column_score_bias<bias_tensor>);

} // namespace ctt
