#pragma once
/**
 * @file
 * @brief Pieces shared by the flash and decode kernels: where K and V live, the online-softmax
 *        update of one score row (Milakov & Gimelshein, arXiv:1805.02867; FlashAttention-2's
 *        delayed normalisation, arXiv:2307.08691), and the per-thread region helper.
 */

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/kv_elements.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/denormals.hpp"
#include "ctt/simd/math.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt::detail {

/// Keys and values of one attention call, stored as `E` (`float` unless a reduced-precision
/// cache): rows of a head sit `*_row_stride` elements apart, heads `*_head_stride` apart (`D`
/// in a `[L, H*D]` projection, `capacity * D` in a cache).
template <weight_type E = weight_type::f32>
struct kv_source {
    static constexpr weight_type element = E;
    const kv_storage_t<E>* k = nullptr;
    const kv_storage_t<E>* v = nullptr;
    index_t k_row_stride = 0;
    index_t v_row_stride = 0;
    index_t k_head_stride = 0;
    index_t v_head_stride = 0;
    index_t length = 0;
};

/// Queries or outputs of one call: `[L, H*D]` rows, head h at column `h * head_stride`.
template <class T>
struct head_rows {
    T* data = nullptr;
    index_t row_stride = 0;
    index_t head_stride = 0;
};

inline constexpr float minus_infinity = -std::numeric_limits<float>::infinity();

/// Largest of `row[0..n)` (-inf for an empty or fully masked row).
[[nodiscard]] inline float row_max(const float* row, index_t n) noexcept {
    using batch = simd::batch<float>;
    batch best(minus_infinity);
    simd::for_each_register(n, [&](index_t i, index_t lanes) {
        const batch x = lanes == simd::width<float>
                            ? simd::load(row + i)
                            : simd::load_partial(row + i, lanes, minus_infinity);
        best = xsimd::max(best, x);
    });
    return simd::reduce_max(best);
}

/// `row[t] = exp(row[t] - shift)` (masked -inf entries and would-be subnormals become exactly 0,
/// see `simd::exp_ftz`); returns the sum.
[[nodiscard]] inline float exp_shifted(float* row, index_t n, float shift) noexcept {
    using batch = simd::batch<float>;
    const batch s(shift);
    batch total(0.0f);
    simd::for_each_register(n, [&](index_t i, index_t lanes) {
        // Tail lanes load as -inf, so they add exactly 0 to the sum.
        const batch x = lanes == simd::width<float>
                            ? simd::load(row + i)
                            : simd::load_partial(row + i, lanes, minus_infinity);
        const batch p = simd::exp_ftz(x - s);
        total += p;
        simd::store_n(row + i, p, lanes);
    });
    return simd::reduce_add(total);
}

/// `row[0..n) *= factor`.
inline void scale_row(float* row, index_t n, float factor) noexcept {
    using batch = simd::batch<float>;
    const batch f(factor);
    simd::for_each_register(n, [&](index_t i, index_t lanes) {
        simd::store_n(row + i, simd::load_n(row + i, lanes) * f, lanes);
    });
}

/**
 * @brief One online-softmax step for one query row over a block of `n` scores.
 *
 * `scores` become unnormalised probabilities `exp(s - m_new)`; `max` and `sum` are the running
 * row maximum and denominator; `acc` (`d` floats, the unnormalised output) is rescaled by
 * `exp(m_old - m_new)`. A block whose scores are all masked leaves the state unchanged and
 * zeroes `scores`, so fully masked rows end with `sum == 0` and give zeros.
 */
inline void online_softmax_step(float* scores, index_t n, float& max, float& sum, float* acc,
                                index_t d) noexcept {
    const float block_max = row_max(scores, n);
    const float new_max = block_max > max ? block_max : max;
    if (new_max == minus_infinity) {
        for (index_t t = 0; t < n; ++t) {
            scores[t] = 0.0f;
        }
        return;
    }
    const float block_sum = exp_shifted(scores, n, new_max);
    if (new_max != max) {
        // exp_ftz(-inf) = 0 covers the first visible block.
        const float alpha = simd::exp_ftz(simd::batch<float>(max - new_max)).get(0);
        if (sum != 0.0f) {
            scale_row(acc, d, alpha);
        }
        sum *= alpha;
        max = new_max;
    }
    sum += block_sum;
}

/// How `for_each_item_with_workspace` hands items to threads.
enum class item_schedule {
    equal,  ///< items cost the same: contiguous ranges, one per thread
    uneven, ///< items cost differently (causal query tiles): one at a time, in order
};

/**
 * @brief The calling thread's `Workspace`: created (zeroed) on the thread's first call and
 *        kept for the next ones, with `reset()` run at the start of each call if it has one.
 *
 * Attention runs once per layer and token when decoding; allocating and zeroing half a
 * megabyte of tiles per thread per call cost as much as a 128-token call itself. The price is
 * memory held between calls: one workspace per thread and kernel, which keeps the capacity of
 * its largest packed head.
 */
template <class Workspace>
Workspace& thread_workspace() {
    thread_local std::unique_ptr<Workspace> ws;
    if (!ws) {
        ws = std::make_unique<Workspace>();
    }
    if constexpr (requires(Workspace & w) { w.reset(); }) {
        ws->reset();
    }
    return *ws;
}

/// Runs `body(item, workspace)` for items `[0, n)` over the threads (when the call's `work`,
/// in multiply-adds, is worth a parallel region), each thread using its
/// `thread_workspace<Workspace>()` (never allocating inside the loop). Each thread runs its
/// items with subnormals flushed to zero (`simd::flush_denormals`). Items are independent, so
/// the results do not depend on which thread runs which.
/// Below this many multiply-adds (all items together) a call stays on one thread: a parallel
/// region's fork and join cost microseconds, more than a small head count's decode step.
inline constexpr double parallel_attention_min_work = 1 << 18;

template <class Workspace, item_schedule Schedule = item_schedule::equal, class Body>
void for_each_item_with_workspace(index_t n, Body&& body,
                                  [[maybe_unused]] double work = parallel_attention_min_work) {
#if defined(CTT_OPENMP)
    const int threads = simd::max_threads();
    if (threads > 1 && n > 1 && work >= parallel_attention_min_work) {
        const auto count = static_cast<long long>(n);
#pragma omp parallel num_threads(threads)
        {
            Workspace& ws = thread_workspace<Workspace>();
            const simd::flush_denormals ftz;
            if constexpr (Schedule == item_schedule::equal) {
#pragma omp for schedule(static)
                for (long long i = 0; i < count; ++i) {
                    body(static_cast<index_t>(i), ws);
                }
            } else {
#pragma omp for schedule(dynamic, 1)
                for (long long i = 0; i < count; ++i) {
                    body(static_cast<index_t>(i), ws);
                }
            }
        }
        return;
    }
#endif
    Workspace& ws = thread_workspace<Workspace>();
    const simd::flush_denormals ftz;
    for (index_t i = 0; i < n; ++i) {
        body(i, ws);
    }
}

} // namespace ctt::detail
