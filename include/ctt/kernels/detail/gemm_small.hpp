#pragma once
/**
 * @file
 * @brief The static-size fast path of `matmul`: when M, N and K are all compile-time and
 *        small, the operands already sit in L1, so packing would cost more than it saves.
 *        Loop bounds are constants, so the compiler unrolls them.
 */

#include <cmath>

#include "ctt/core/shape.hpp"
#include "ctt/kernels/detail/gemm_kernel.hpp"
#include "ctt/kernels/detail/gemm_unroll.hpp"

namespace ctt::kernels::detail {

/// Largest static M, N and K sent to the unpacked path.
inline constexpr index_t small_gemm_limit = 64;

/// Rows `[i0, i0 + R)` of the `B[K,N]` case: `R x (N / lanes)` accumulators, each B register
/// loaded once per k for all R rows.
template <index_t R, index_t N, index_t K>
inline void gemm_small_nn_rows(index_t i0, const float* a, index_t lda, const float* b, index_t ldb,
                               float* c, index_t ldc, float alpha, bool accumulate,
                               const float* bias) {
    constexpr index_t nv = N / lanes;
    fbatch acc[R][nv];
    static_for<R>([&](auto r) { static_for<nv>([&](auto v) { acc[r][v] = fbatch(0.f); }); });
    for (index_t p = 0; p < K; ++p) {
        fbatch bv[nv];
        static_for<nv>([&](auto v) { bv[v] = fbatch::load_unaligned(b + p * ldb + v * lanes); });
        static_for<R>([&](auto r) {
            const fbatch av(a[(i0 + r) * lda + p]);
            static_for<nv>([&](auto v) { acc[r][v] = simd::fma(av, bv[v], acc[r][v]); });
        });
    }
    static_for<R>([&](auto r) {
        float* ci = c + (i0 + r) * ldc;
        static_for<nv>([&](auto v) {
            fbatch init = bias != nullptr ? fbatch::load_unaligned(bias + v * lanes) : fbatch(0.f);
            if (accumulate) {
                init = fbatch::load_unaligned(ci + v * lanes) + init;
            }
            simd::fma(fbatch(alpha), acc[r][v], init).store_unaligned(ci + v * lanes);
        });
    });
}

/// `C = alpha * A * B + bias (+ C)` with `B[K,N]`: rows of C in registers, A broadcast.
template <index_t M, index_t N, index_t K>
inline void gemm_small_nn(const float* a, index_t lda, const float* b, index_t ldb, float* c,
                          index_t ldc, float alpha, bool accumulate, const float* bias) {
    constexpr index_t nv = N / lanes;
    constexpr index_t tail = N - nv * lanes;
    if constexpr (nv > 0) {
        // Up to 4 x 4 accumulators: 16 of the 32 AVX-512 (or all 16 AVX2) registers.
        constexpr index_t rows = nv <= 2 ? 4 : 2;
        constexpr index_t full = M / rows * rows;
        for (index_t i = 0; i < full; i += rows) {
            gemm_small_nn_rows<rows, N, K>(i, a, lda, b, ldb, c, ldc, alpha, accumulate, bias);
        }
        if constexpr (full < M) {
            for (index_t i = full; i < M; ++i) {
                gemm_small_nn_rows<1, N, K>(i, a, lda, b, ldb, c, ldc, alpha, accumulate, bias);
            }
        }
    }
    for (index_t i = 0; i < M; ++i) {
        const float* ai = a + i * lda;
        float* ci = c + i * ldc;
        if constexpr (tail > 0) {
            float acc[tail] = {};
            for (index_t p = 0; p < K; ++p) {
                for (index_t j = 0; j < tail; ++j) {
                    acc[j] = std::fma(ai[p], b[p * ldb + nv * lanes + j], acc[j]);
                }
            }
            for (index_t j = 0; j < tail; ++j) {
                const index_t col = nv * lanes + j;
                float init = bias != nullptr ? bias[col] : 0.f;
                if (accumulate) {
                    init = ci[col] + init;
                }
                ci[col] = std::fma(alpha, acc[j], init);
            }
        }
    }
}

/// `C = alpha * A * B^T + bias (+ C)` with `B[N,K]`: one dot product along K per element.
template <index_t M, index_t N, index_t K>
inline void gemm_small_nt(const float* a, index_t lda, const float* b, index_t ldb, float* c,
                          index_t ldc, float alpha, bool accumulate, const float* bias) {
    constexpr index_t kv = K / lanes;
    constexpr index_t tail = K - kv * lanes;
    for (index_t i = 0; i < M; ++i) {
        const float* ai = a + i * lda;
        for (index_t j = 0; j < N; ++j) {
            const float* bj = b + j * ldb;
            float sum = 0.f;
            if constexpr (kv > 0) {
                fbatch acc(0.f);
                for (index_t v = 0; v < kv; ++v) {
                    acc = simd::fma(fbatch::load_unaligned(ai + v * lanes),
                                    fbatch::load_unaligned(bj + v * lanes), acc);
                }
                sum = simd::reduce_add(acc);
            }
            for (index_t p = kv * lanes; p < K; ++p) {
                sum = std::fma(ai[p], bj[p], sum);
            }
            float init = bias != nullptr ? bias[j] : 0.f;
            if (accumulate) {
                init = c[i * ldc + j] + init;
            }
            c[i * ldc + j] = std::fma(alpha, sum, init);
        }
    }
    (void)tail;
}

} // namespace ctt::kernels::detail
