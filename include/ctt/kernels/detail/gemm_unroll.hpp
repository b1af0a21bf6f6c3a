#pragma once
/**
 * @file
 * @brief `static_for`: a compile-time unrolled loop. The micro-kernel's accumulators are an
 *        array indexed by constants only, so the compiler keeps each one in a register instead
 *        of leaving the array in memory (which GCC 12 does for a plain nested loop).
 */

#include <cstddef>
#include <type_traits>
#include <utility>

namespace ctt::kernels::detail {

template <std::size_t... I, class F>
inline __attribute__((always_inline)) void static_for_impl(std::index_sequence<I...>, F&& f) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
}

/// Calls `f(std::integral_constant<std::size_t, I>{})` for `I = 0 .. N-1`, fully unrolled.
template <std::size_t N, class F>
inline __attribute__((always_inline)) void static_for(F&& f) {
    static_for_impl(std::make_index_sequence<N>{}, std::forward<F>(f));
}

} // namespace ctt::kernels::detail
