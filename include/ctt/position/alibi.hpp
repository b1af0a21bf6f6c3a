#pragma once
/**
 * @file
 * @brief ALiBi, attention with linear biases (Press et al. 2021, arXiv:2108.12409), as a
 *        `score_bias`, with the head slopes of HF BLOOM's `build_alibi_tensor`.
 *
 * Slopes: with `n` the largest power of two `<= num_heads`, head h < n gets
 * `(2^(-8/n))^(h+1)`; the remaining heads take every other slope of the `2n` sequence,
 * `(2^(-8/(2n)))^(2m+1)` for m = 0, 1, ... (the paper's recipe for non-powers of two).
 *
 * Two forms:
 * - `alibi_bias` (BLOOM): `bias(h, i, j) = slope_h * j`. The paper's `-slope * (i - j)` differs
 *   from it by `slope * i`, constant along a query row, and softmax is shift-invariant, so
 *   under causal masking the two give the same attention. BLOOM counts key positions over
 *   non-pad tokens only (`cumsum(mask) - 1`); with left padding that shifts every visible key of
 *   a row by the same number of pads, again a per-row constant, so absolute positions give the
 *   same result once pads are masked.
 * - `alibi_symmetric_bias` (encoders): `bias(h, i, j) = -slope_h * |i - j|`.
 */

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"

namespace ctt {

/**
 * @brief The ALiBi slope of each of `num_heads` heads, as HF BLOOM computes them in float32:
 *        the base `2^(-8/n)` rounded to float, its integer powers rounded to float.
 * @throws value_error when `num_heads` is zero.
 */
[[nodiscard]] inline std::vector<float> alibi_slopes(index_t num_heads) {
    if (num_heads == 0) {
        throw value_error("alibi_slopes: num_heads must be positive");
    }
    index_t closest = 1;
    while (closest * 2 <= num_heads) {
        closest *= 2;
    }
    // 2^(-(2^-(log2(n) - 3))) = 2^(-8/n), rounded to float as `torch.tensor(..., float32)`.
    const auto base_of = [](index_t n) {
        return static_cast<double>(
            static_cast<float>(std::pow(2.0, -8.0 / static_cast<double>(n))));
    };
    std::vector<float> slopes;
    slopes.reserve(num_heads);
    const double base = base_of(closest);
    for (index_t h = 1; h <= closest; ++h) {
        slopes.push_back(static_cast<float>(std::pow(base, static_cast<double>(h))));
    }
    if (closest != num_heads) {
        const double extra_base = base_of(2 * closest);
        const index_t remaining = num_heads - closest; // < closest by the choice of closest
        for (index_t m = 0; m < remaining; ++m) {
            slopes.push_back(
                static_cast<float>(std::pow(extra_base, static_cast<double>(2 * m + 1))));
        }
    }
    return slopes;
}

/**
 * @brief BLOOM's ALiBi: `row[t] += slope[head] * (k_begin + t)`. Use with a causal mask.
 */
class alibi_bias {
public:
    /// Slopes of `num_heads` heads (`alibi_slopes`).
    explicit alibi_bias(index_t num_heads)
        : slopes_(alibi_slopes(num_heads)) {}

    /// Explicit slopes, one per head (a model that stores or permutes them).
    explicit alibi_bias(std::vector<float> slopes)
        : slopes_(std::move(slopes)) {}

    [[nodiscard]] index_t num_heads() const noexcept { return slopes_.size(); }
    [[nodiscard]] float slope(index_t head) const noexcept { return slopes_[head]; }

    void add(index_t head, index_t /*q_pos*/, index_t k_begin, index_t n, float* row) const {
        const float m = slopes_[head];
        for (index_t t = 0; t < n; ++t) {
            row[t] += m * static_cast<float>(k_begin + t);
        }
    }
    /// The bias depends on the key only: one value down the column.
    void add_column(index_t head, index_t k_pos, index_t /*q_begin*/, index_t n, float* col) const {
        const float b = slopes_[head] * static_cast<float>(k_pos);
        for (index_t t = 0; t < n; ++t) {
            col[t] += b;
        }
    }

private:
    std::vector<float> slopes_;
};

/**
 * @brief Symmetric ALiBi for bidirectional attention: `row[t] += -slope[head] * |q_pos - k|`.
 */
class alibi_symmetric_bias {
public:
    explicit alibi_symmetric_bias(index_t num_heads)
        : slopes_(alibi_slopes(num_heads)) {}
    explicit alibi_symmetric_bias(std::vector<float> slopes)
        : slopes_(std::move(slopes)) {}

    [[nodiscard]] index_t num_heads() const noexcept { return slopes_.size(); }
    [[nodiscard]] float slope(index_t head) const noexcept { return slopes_[head]; }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        add_distances(head, q_pos, k_begin, n, row);
    }
    /// The distance is symmetric: a key's column is the same run seen from the key.
    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        add_distances(head, k_pos, q_begin, n, col);
    }

private:
    /// `out[t] += -slope[head] * |first + t - from|`.
    void add_distances(index_t head, index_t from, index_t first, index_t n, float* out) const {
        const float m = -slopes_[head];
        for (index_t t = 0; t < n; ++t) {
            const index_t p = first + t;
            const index_t dist = p > from ? p - from : from - p;
            out[t] += m * static_cast<float>(dist);
        }
    }

    std::vector<float> slopes_;
};

static_assert(column_score_bias<alibi_bias>);
static_assert(column_score_bias<alibi_symmetric_bias>);

} // namespace ctt
