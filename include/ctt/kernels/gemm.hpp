#pragma once
/**
 * @file
 * @brief Matrix products: `matmul` (`C = alpha * A * B`), `matmul_bt` (`C = alpha * A * B^T`,
 *        B in PyTorch `nn.Linear` weight layout `[out, in]`), each with an optional bias row,
 *        and the raw-pointer `kernels::gemm` they forward to.
 *
 * Static extents are checked at compile time, runtime ones throw `ctt::shape_error`. Views
 * may have row strides (a head slice of a `[L, H*D]` matrix); the last stride is always 1.
 * When M, N and K are all static and at most 64, a packing-free path is used.
 */

#include <type_traits>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/gemm_kernel.hpp"
#include "ctt/kernels/detail/gemm_small.hpp"
#include "ctt/kernels/detail/gemm_types.hpp"
#include "ctt/kernels/gemv.hpp"

namespace ctt {

namespace kernels {

/**
 * @brief `C[m,n] = alpha * A[m,k] * op(B) + bias (+ C if accumulate)`, row-major with leading
 *        dimensions `lda`, `ldb`, `ldc`. `op(B)` is `B[k,n]` for `transpose::no` and `B[n,k]^T`
 *        for `transpose::yes`. `bias` is nullable and holds `n` values. C must not overlap A
 *        or B. Multithreaded with OpenMP; the result does not depend on the thread count.
 *        Packing buffers live in a per-thread workspace that grows once, to at most
 *        `kc * (nc + mc)` floats (about 3.5 MB on AVX-512).
 */
inline void gemm(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b,
                 index_t ldb, transpose tb, float* c, index_t ldc, float alpha = 1.f,
                 bool accumulate = false, const float* bias = nullptr) {
    if (m == 1 && k > 0 && tb == transpose::yes) {
        // One token through a linear layer (decoding): `c = B a` is a gemv on the weight,
        // which streams B once instead of packing it.
        gemv(n, k, b, ldb, a, c, alpha, accumulate, bias);
        return;
    }
    detail::gemm_dispatch(m, n, k, a, lda, b, ldb, tb, c, ldc, alpha, accumulate, bias);
}

} // namespace kernels

namespace detail {

/// `float` or `const float`: what matmul accepts as an input element.
template <class T>
concept float_element = (std::is_same_v<std::remove_const_t<T>, float>);

template <kernels::transpose TB, class TA, class SA, class TBe, class SB, class SC,
          class SBias = shape<dyn>>
inline void matmul_impl(tensor_view<TA, SA> a, tensor_view<TBe, SB> b, tensor_view<float, SC> c,
                        const float* bias, index_t bias_len, gemm_options opt) {
    static_assert(SA::rank == 2 && SB::rank == 2 && SC::rank == 2,
                  "matmul: operands must be 2-D views");
    constexpr index_t sm = SA::static_extents[0];
    constexpr index_t sk = SA::static_extents[1];
    constexpr index_t sbk =
        TB == kernels::transpose::no ? SB::static_extents[0] : SB::static_extents[1];
    constexpr index_t sn =
        TB == kernels::transpose::no ? SB::static_extents[1] : SB::static_extents[0];
    const index_t m = a.extent(0);
    const index_t k = a.extent(1);
    const index_t bk = TB == kernels::transpose::no ? b.extent(0) : b.extent(1);
    const index_t n = TB == kernels::transpose::no ? b.extent(1) : b.extent(0);
    CTT_CHECK_DIMS(CTT_MSG_MATMUL_INNER, sk, sbk, k, bk);
    CTT_CHECK_DIMS(CTT_MSG_MATMUL_ROWS, sm, (SC::static_extents[0]), m, c.extent(0));
    CTT_CHECK_DIMS(CTT_MSG_MATMUL_COLS, sn, (SC::static_extents[1]), n, c.extent(1));
    if (bias != nullptr) {
        CTT_CHECK_DIMS(CTT_MSG_MATMUL_BIAS, (SBias::static_extents[0]), (SC::static_extents[1]),
                       bias_len, c.extent(1));
    }

    if constexpr (sm != dyn && sn != dyn && sk != dyn && sm <= kernels::detail::small_gemm_limit &&
                  sn <= kernels::detail::small_gemm_limit &&
                  sk <= kernels::detail::small_gemm_limit) {
        if constexpr (TB == kernels::transpose::no) {
            kernels::detail::gemm_small_nn<sm, sn, sk>(a.data(), a.row_stride(), b.data(),
                                                       b.row_stride(), c.data(), c.row_stride(),
                                                       opt.alpha, opt.accumulate, bias);
        } else {
            kernels::detail::gemm_small_nt<sm, sn, sk>(a.data(), a.row_stride(), b.data(),
                                                       b.row_stride(), c.data(), c.row_stride(),
                                                       opt.alpha, opt.accumulate, bias);
        }
    } else {
        kernels::gemm(m, n, k, a.data(), a.row_stride(), b.data(), b.row_stride(), TB, c.data(),
                      c.row_stride(), opt.alpha, opt.accumulate, bias);
    }
}

} // namespace detail

/** @brief `C[M,N] = alpha * A[M,K] * B[K,N] (+ C if `opt.accumulate`)`. */
template <detail::float_element TA, tensor_shape SA, detail::float_element TB, tensor_shape SB,
          tensor_shape SC>
requires(SA::rank == 2 && SB::rank == 2 &&
         SC::rank == 2) inline void matmul(tensor_view<TA, SA> a, tensor_view<TB, SB> b,
                                           tensor_view<float, SC> c, gemm_options opt = {}) {
    detail::matmul_impl<kernels::transpose::no>(a, b, c, nullptr, 0, opt);
}

/** @brief `C[M,N] = alpha * A[M,K] * B[K,N] + bias[N]` (+ C), the bias broadcast over rows. */
template <detail::float_element TA, tensor_shape SA, detail::float_element TB, tensor_shape SB,
          detail::float_element TBias, tensor_shape SBias, tensor_shape SC>
requires(SA::rank == 2 && SB::rank == 2 && SC::rank == 2 &&
         SBias::rank == 1) inline void matmul(tensor_view<TA, SA> a, tensor_view<TB, SB> b,
                                              tensor_view<TBias, SBias> bias,
                                              tensor_view<float, SC> c, gemm_options opt = {}) {
    detail::matmul_impl<kernels::transpose::no, TA, SA, TB, SB, SC, SBias>(a, b, c, bias.data(),
                                                                           bias.extent(0), opt);
}

/**
 * @brief `C[M,N] = alpha * A[M,K] * B[N,K]^T (+ C)`: B in `nn.Linear` weight layout
 *        `[out, in]`, so `matmul_bt(x, weight, y)` is a linear layer without bias.
 */
template <detail::float_element TA, tensor_shape SA, detail::float_element TB, tensor_shape SB,
          tensor_shape SC>
requires(SA::rank == 2 && SB::rank == 2 &&
         SC::rank == 2) inline void matmul_bt(tensor_view<TA, SA> a, tensor_view<TB, SB> b,
                                              tensor_view<float, SC> c, gemm_options opt = {}) {
    detail::matmul_impl<kernels::transpose::yes>(a, b, c, nullptr, 0, opt);
}

/** @brief `C[M,N] = alpha * A[M,K] * B[N,K]^T + bias[N]` (+ C): a full `nn.Linear`. */
template <detail::float_element TA, tensor_shape SA, detail::float_element TB, tensor_shape SB,
          detail::float_element TBias, tensor_shape SBias, tensor_shape SC>
requires(SA::rank == 2 && SB::rank == 2 && SC::rank == 2 &&
         SBias::rank == 1) inline void matmul_bt(tensor_view<TA, SA> a, tensor_view<TB, SB> b,
                                                 tensor_view<TBias, SBias> bias,
                                                 tensor_view<float, SC> c, gemm_options opt = {}) {
    detail::matmul_impl<kernels::transpose::yes, TA, SA, TB, SB, SC, SBias>(a, b, c, bias.data(),
                                                                            bias.extent(0), opt);
}

} // namespace ctt
