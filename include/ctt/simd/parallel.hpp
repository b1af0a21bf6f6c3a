#pragma once
/**
 * @file
 * @brief A tiny, optional OpenMP layer: thread count, a statically scheduled `parallel_for`.
 *
 * Everything compiles to serial code when `CTT_OPENMP` is not defined. The schedule is static,
 * so the iteration -> thread mapping is fixed; kernels built on it keep their results
 * independent of the thread count by giving every output element to exactly one iteration.
 */

#include <cstddef>

#if defined(CTT_OPENMP)
#include <omp.h>
#endif

namespace ctt::simd {

/** @brief True when ctt was compiled with OpenMP. */
inline constexpr bool has_openmp =
#if defined(CTT_OPENMP)
    true;
#else
    false;
#endif

/** @brief Threads a new parallel region would use (1 without OpenMP or inside a region). */
[[nodiscard]] inline int max_threads() noexcept {
#if defined(CTT_OPENMP)
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/** @brief Sets the thread count of later parallel regions (a no-op without OpenMP). */
inline void set_num_threads(int threads) noexcept {
#if defined(CTT_OPENMP)
    omp_set_num_threads(threads < 1 ? 1 : threads);
#else
    (void)threads;
#endif
}

/**
 * @brief Calls `body(i)` for every `i` in `[begin, end)`, split statically over at most
 *        `threads` threads. Runs serially for one thread, one iteration or inside a region.
 */
template <class Body>
inline void parallel_for(std::size_t begin, std::size_t end, Body&& body,
                         int threads = max_threads()) {
#if defined(CTT_OPENMP)
    if (threads > 1 && end > begin + 1 && !omp_in_parallel()) {
        const auto n = static_cast<long long>(end - begin);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long long i = 0; i < n; ++i) {
            body(begin + static_cast<std::size_t>(i));
        }
        return;
    }
#else
    (void)threads;
#endif
    for (std::size_t i = begin; i < end; ++i) {
        body(i);
    }
}

} // namespace ctt::simd
