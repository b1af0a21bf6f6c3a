#pragma once
/**
 * @file
 * @brief What the positional encodings of `position/` share: a read-only row-major matrix
 *        reference used by the content-dependent score biases, and the checks that each
 *        encoding models its role (`qk_transform` or `score_bias`, see
 *        `attention/attention_concepts.hpp`).
 */

#include <concepts>
#include <cstddef>
#include <type_traits>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

/**
 * @brief A read-only view of a row-major float matrix with a row stride: the projected Q, K
 *        and relative-position tables a content-dependent bias reads.
 *
 * Built from any rank-2 `tensor_view` or `tensor` of `float` with `make_matrix_ref`, so a bias
 * accepts both static and runtime extents without caring which.
 */
struct matrix_ref {
    const float* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t row_stride = 0;

    [[nodiscard]] const float* row(index_t i) const noexcept { return data + i * row_stride; }
    [[nodiscard]] bool empty() const noexcept { return rows == 0 || cols == 0; }
};

/// A `matrix_ref` of a rank-2 view (const or mutable elements).
template <class T, tensor_shape S>
requires(S::rank == 2 && std::same_as<std::remove_const_t<T>, float>) [[nodiscard]] matrix_ref
    make_matrix_ref(tensor_view<T, S> v) noexcept {
    return {v.data(), v.rows(), v.cols(), v.row_stride()};
}

/// A `matrix_ref` of a rank-2 owning tensor.
template <tensor_shape S>
requires(S::rank == 2) [[nodiscard]] matrix_ref
    make_matrix_ref(const tensor<float, S>& t) noexcept {
    return {t.data(), t.rows(), t.cols(), t.cols()};
}

/// A `matrix_ref` of `rows x cols` floats at `data`, rows `row_stride` apart.
[[nodiscard]] inline matrix_ref make_matrix_ref(const float* data, index_t rows, index_t cols,
                                                index_t row_stride) noexcept {
    return {data, rows, cols, row_stride};
}

namespace detail {
/// Row of query position `q_pos` in a bias holding `q_len` rows from position `q_offset`;
/// throws `shape_error` when the position has no row.
[[nodiscard]] inline index_t query_row(index_t q_pos, index_t q_offset, index_t q_len) {
    if (q_pos < q_offset) {
        throw_dims(CTT_MSG_REL_QUERY_ROWS, q_pos, q_offset);
    }
    check_at_most(CTT_MSG_REL_QUERY_ROWS, q_pos - q_offset + 1, q_len);
    return q_pos - q_offset;
}
} // namespace detail

} // namespace ctt
