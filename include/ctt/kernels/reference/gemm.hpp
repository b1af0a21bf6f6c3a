#pragma once
/**
 * @file
 * @brief Scalar twins of `ctt::kernels::gemm` and `ctt::kernels::gemv`: plain loops, one
 *        running sum per output element in `k` order, the ground truth the fast kernels are
 *        tested against.
 */

#include "ctt/core/shape.hpp"
#include "ctt/kernels/detail/gemm_types.hpp"

namespace ctt::kernels::reference {

/**
 * @brief `C[m,n] = alpha * A[m,k] * op(B) + bias (+ C if accumulate)`, with `op(B)` either
 *        `B[k,n]` (`tb == transpose::no`) or `B[n,k]^T`. `bias` (nullable) has `n` values.
 */
inline void gemm(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b,
                 index_t ldb, transpose tb, float* c, index_t ldc, float alpha = 1.f,
                 bool accumulate = false, const float* bias = nullptr) {
    for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
            float sum = 0.f;
            for (index_t p = 0; p < k; ++p) {
                const float bv = tb == transpose::no ? b[p * ldb + j] : b[j * ldb + p];
                sum += a[i * lda + p] * bv;
            }
            float out = alpha * sum;
            if (bias != nullptr) {
                out += bias[j];
            }
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + out : out;
        }
    }
}

/** @brief `y[m] = alpha * A[m,k] * x[k] + bias (+ y if accumulate)`; `bias` nullable. */
inline void gemv(index_t m, index_t k, const float* a, index_t lda, const float* x, float* y,
                 float alpha = 1.f, bool accumulate = false, const float* bias = nullptr) {
    for (index_t i = 0; i < m; ++i) {
        float sum = 0.f;
        for (index_t p = 0; p < k; ++p) {
            sum += a[i * lda + p] * x[p];
        }
        float out = alpha * sum;
        if (bias != nullptr) {
            out += bias[i];
        }
        y[i] = accumulate ? y[i] + out : out;
    }
}

} // namespace ctt::kernels::reference
