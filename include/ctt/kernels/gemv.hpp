#pragma once
/**
 * @file
 * @brief Matrix-vector product `y[M] = alpha * A[M,K] * x[K] (+ y)`: the decode-step shape of a
 *        linear layer (`A` in `nn.Linear` weight layout `[out, in]`).
 *
 * Each row is a dot product along the contiguous k; four rows share every load of x. Rows are
 * split over threads, each row computed whole by one thread, so results do not depend on the
 * thread count.
 */

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/gemm_types.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt {

namespace kernels {

namespace detail {

using gemv_batch = simd::batch<float>;
inline constexpr index_t gemv_lanes = simd::width<float>;

/// Rows `[r0, r0 + R)`: R dot products sharing each register of x.
template <index_t R>
inline void gemv_rows(index_t r0, index_t k, const float* a, index_t lda, const float* x, float* y,
                      float alpha, bool accumulate, const float* bias) {
    gemv_batch acc[R];
    for (index_t r = 0; r < R; ++r) {
        acc[r] = gemv_batch(0.f);
    }
    const index_t k_main = k / gemv_lanes * gemv_lanes;
    for (index_t p = 0; p < k_main; p += gemv_lanes) {
        const gemv_batch xv = gemv_batch::load_unaligned(x + p);
        for (index_t r = 0; r < R; ++r) {
            acc[r] = simd::fma(gemv_batch::load_unaligned(a + (r0 + r) * lda + p), xv, acc[r]);
        }
    }
    for (index_t r = 0; r < R; ++r) {
        const float* ar = a + (r0 + r) * lda;
        float sum = simd::reduce_add(acc[r]);
        for (index_t q = k_main; q < k; ++q) {
            sum = std::fma(ar[q], x[q], sum);
        }
        float init = bias != nullptr ? bias[r0 + r] : 0.f;
        if (accumulate) {
            init = y[r0 + r] + init;
        }
        y[r0 + r] = std::fma(alpha, sum, init);
    }
}

} // namespace detail

/**
 * @brief `y[m] = alpha * A[m,k] * x[k] + bias (+ y if accumulate)`; A row-major with leading
 *        dimension `lda`; `bias` is nullable and holds `m` values.
 */
inline void gemv(index_t m, index_t k, const float* a, index_t lda, const float* x, float* y,
                 float alpha = 1.f, bool accumulate = false, const float* bias = nullptr) {
    constexpr index_t rows_per_task = 64;
    const index_t tasks = (m + rows_per_task - 1) / rows_per_task;
    // gemv is bound by memory bandwidth, which one core nearly saturates from cache; a second
    // thread pays off only once A is well past L2 (4M floats = 16 MB).
    const int threads = m * k >= (index_t{1} << 22) ? simd::max_threads() : 1;
    simd::parallel_for(
        0, tasks,
        [&](index_t t) {
            const index_t begin = t * rows_per_task;
            const index_t end = std::min(m, begin + rows_per_task);
            index_t r = begin;
            for (; r + 4 <= end; r += 4) {
                detail::gemv_rows<4>(r, k, a, lda, x, y, alpha, accumulate, bias);
            }
            for (; r < end; ++r) {
                detail::gemv_rows<1>(r, k, a, lda, x, y, alpha, accumulate, bias);
            }
        },
        threads);
}

} // namespace kernels

/** @brief `y[M] = alpha * A[M,K] * x[K] (+ y if `opt.accumulate`)`. */
template <class TA, tensor_shape SA, class TX, tensor_shape SX, tensor_shape SY>
requires(std::is_same_v<std::remove_const_t<TA>, float>&&
                 std::is_same_v<std::remove_const_t<TX>, float>&& SA::rank == 2 &&
         SX::rank == 1 &&
         SY::rank == 1) inline void gemv(tensor_view<TA, SA> a, tensor_view<TX, SX> x,
                                         tensor_view<float, SY> y, gemm_options opt = {}) {
    CTT_CHECK_DIMS(CTT_MSG_GEMV_INNER, (SA::static_extents[1]), (SX::static_extents[0]),
                   a.extent(1), x.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_GEMV_OUT, (SA::static_extents[0]), (SY::static_extents[0]), a.extent(0),
                   y.extent(0));
    kernels::gemv(a.extent(0), a.extent(1), a.data(), a.row_stride(), x.data(), y.data(), opt.alpha,
                  opt.accumulate);
}

/** @brief `y[M] = alpha * A[M,K] * x[K] + bias[M] (+ y if `opt.accumulate`)`. */
template <class TA, tensor_shape SA, class TX, tensor_shape SX, class TBias, tensor_shape SBias,
          tensor_shape SY>
requires(std::is_same_v<std::remove_const_t<TA>, float>&&
                 std::is_same_v<std::remove_const_t<TX>, float>&&
                     std::is_same_v<std::remove_const_t<TBias>, float>&& SA::rank == 2 &&
         SX::rank == 1 && SBias::rank == 1 &&
         SY::rank == 1) inline void gemv(tensor_view<TA, SA> a, tensor_view<TX, SX> x,
                                         tensor_view<TBias, SBias> bias, tensor_view<float, SY> y,
                                         gemm_options opt = {}) {
    CTT_CHECK_DIMS(CTT_MSG_GEMV_INNER, (SA::static_extents[1]), (SX::static_extents[0]),
                   a.extent(1), x.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_GEMV_OUT, (SA::static_extents[0]), (SY::static_extents[0]), a.extent(0),
                   y.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_GEMV_OUT, (SBias::static_extents[0]), (SY::static_extents[0]),
                   bias.extent(0), y.extent(0));
    kernels::gemv(a.extent(0), a.extent(1), a.data(), a.row_stride(), x.data(), y.data(), opt.alpha,
                  opt.accumulate, bias.data());
}

} // namespace ctt
