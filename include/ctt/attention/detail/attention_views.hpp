#pragma once
/**
 * @file
 * @brief What the attention kernels accept as Q, K, V and output, and the shape checks they
 *        share (static where both head dimensions are static, at run time otherwise).
 */

#include <type_traits>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt::detail {

template <class V>
struct matrix_view_traits : std::false_type {};
template <class T, index_t R, index_t C>
struct matrix_view_traits<tensor_view<T, shape<R, C>>> : std::true_type {
    static constexpr index_t cols = C;
    static constexpr bool is_mutable = !std::is_const_v<T>;
    using value_type = std::remove_cv_t<T>;
};

/// A 2-D view of floats (const or not): rows are tokens, columns the head dimension.
template <class V>
concept float_matrix_view =
    matrix_view_traits<V>::value && std::same_as < typename matrix_view_traits<V>::value_type,
float > ;

/// A 2-D view of mutable floats (an output).
template <class V>
concept mutable_float_matrix_view = float_matrix_view<V> && matrix_view_traits<V>::is_mutable;

template <class V>
inline constexpr index_t static_cols_v = matrix_view_traits<V>::cols;

/// Checks head dimensions (statically when static) and lengths of one head's operands.
template <class Q, class K, class V, class O>
constexpr void check_head_operands(const Q& q, const K& k, const V& v, const O& out) {
    CTT_CHECK_DIMS(CTT_MSG_ATTENTION_HEAD_DIM, static_cols_v<Q>, static_cols_v<K>, q.cols(),
                   k.cols());
    CTT_CHECK_DIMS(CTT_MSG_ATTENTION_HEAD_DIM, static_cols_v<Q>, static_cols_v<V>, q.cols(),
                   v.cols());
    CTT_CHECK_DIMS(CTT_MSG_ATTENTION_HEAD_DIM, static_cols_v<Q>, static_cols_v<O>, q.cols(),
                   out.cols());
    check_dims(CTT_MSG_ATTENTION_KV_LEN, k.rows(), v.rows());
    check_dims(CTT_MSG_ATTENTION_Q_OUT, q.rows(), out.rows());
}

} // namespace ctt::detail
