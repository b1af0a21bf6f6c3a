#pragma once
/**
 * @file
 * @brief Loops shared by the row-wise kernels (softmax, norms, activations, GLU, elementwise):
 *        visiting the contiguous rows of views of any rank in lockstep, and a row reduction
 *        with several independent accumulators.
 */

#include <cstddef>
#include <type_traits>

#include "ctt/core/shape.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt::detail {

/// `float` or `const float`: the element types the row-wise kernels read.
template <class T>
concept rowwise_element = std::is_same_v < std::remove_const_t<T>,
float > ;

/// The static extent of the last dimension of shape `S` (or `dyn`).
template <class S>
inline constexpr index_t static_width_v = S::static_extents[S::rank - 1];

/// Elements from which a row-wise kernel splits its rows over threads.
inline constexpr index_t parallel_rows_min_elements = index_t{1} << 16;

/**
 * Calls `f(p0, p1, ...)` with pointers to the start of each innermost row of the views, which
 * must have the same rank and leading extents (the caller checks them). A rank-1 view is one
 * row. Rows are contiguous, outer dimensions may be strided.
 */
template <class F, class V0, class... Vs>
inline void for_each_row(F&& f, const V0& v0, const Vs&... vs) {
    if constexpr (V0::rank == 1) {
        f(v0.data(), vs.data()...);
    } else if constexpr (V0::rank == 2) {
        // Rows are independent and each is computed whole by one thread, so the result does
        // not depend on the thread count. Small views stay serial: a parallel region costs a
        // few microseconds.
        const index_t rows = v0.extent(0);
        const auto row = [&](std::size_t i) { f(v0[i].data(), vs[i].data()...); };
        if (rows * v0.extent(1) >= parallel_rows_min_elements) {
            simd::parallel_for(0, rows, row);
        } else {
            for (index_t i = 0; i < rows; ++i) {
                row(i);
            }
        }
    } else {
        for (index_t i = 0; i < v0.extent(0); ++i) {
            for_each_row(f, v0[i], vs[i]...);
        }
    }
}

/// Number of innermost rows of a view (product of the leading extents).
template <class V>
[[nodiscard]] inline index_t row_count(const V& v) noexcept {
    index_t rows = 1;
    for (index_t d = 0; d + 1 < V::rank; ++d) {
        rows *= v.extent(d);
    }
    return rows;
}

/**
 * Sums `term(i, lanes)` over the registers of a row of `n` floats. `term` must return zero in
 * the lanes past `lanes` of the tail register. Four independent accumulators hide the add
 * latency and, combined pairwise at the end, keep the rounding error closer to that of a
 * pairwise sum than a single running sum does.
 */
template <class Term>
[[nodiscard]] inline float sum_row(std::size_t n, Term&& term) noexcept {
    using batch = simd::batch<float>;
    constexpr std::size_t w = simd::width<float>;
    batch a0(0.f), a1(0.f), a2(0.f), a3(0.f);
    std::size_t i = 0;
    for (; i + 4 * w <= n; i += 4 * w) {
        a0 += term(i, w);
        a1 += term(i + w, w);
        a2 += term(i + 2 * w, w);
        a3 += term(i + 3 * w, w);
    }
    for (; i + w <= n; i += w) {
        a0 += term(i, w);
    }
    if (i < n) {
        a1 += term(i, n - i);
    }
    return simd::reduce_add((a0 + a1) + (a2 + a3));
}

} // namespace ctt::detail
