#pragma once
/**
 * @file
 * @brief `bias_sum`: two score biases added into the same scores, so that a layer with several
 *        additive terms (XLNet's position and segment terms) runs them all inside one fused
 *        attention call.
 */

#include <utility>

#include "ctt/attention/attention_concepts.hpp"

namespace ctt {

/**
 * @brief `row[t] += a(head, q, k) + b(head, q, k)`. Holds copies of both biases (cheap views
 *        or small tables); the column form exists when both terms have one.
 */
template <score_bias A, score_bias B>
struct bias_sum {
    A first;
    B second;

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        first.add(head, q_pos, k_begin, n, row);
        second.add(head, q_pos, k_begin, n, row);
    }
    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const
        requires(column_score_bias<A>&& column_score_bias<B>) {
        first.add_column(head, k_pos, q_begin, n, col);
        second.add_column(head, k_pos, q_begin, n, col);
    }
};

/// The sum of two score biases.
template <score_bias A, score_bias B>
[[nodiscard]] bias_sum<A, B> add_biases(A a, B b) {
    return {std::move(a), std::move(b)};
}

} // namespace ctt
