#pragma once
/**
 * @file
 * @brief A weight matrix packed once into the GEMM's sliver layout, and the products that read
 *        it in place: `gemm_packed` (prompt processing, many rows) and its one-row form (decode),
 *        which mirrors the micro-kernel's arithmetic element for element.
 *
 * `packed_matrix` holds `op(B)` (`[k, n]`) as `k / kc` blocks of `ceil(n / nr)` slivers, each
 * sliver `kc x nr` floats, k-major: exactly what `pack_b` writes for one `(jc, pc)` block, for
 * every block at once. The GEMM then never packs B (no gathers for `[out, in]` weights, no
 * copies), and the one-row product reads the same bytes sequentially.
 *
 * Determinism: every output element is `fma(alpha, acc_b, c)` over the k blocks `b` in order,
 * `acc_b` one fused multiply-add chain over the block's k in order, starting from zero, with the
 * bias added at the first block: the same operations whether the row goes through the
 * micro-kernel (any tile, any thread) or the one-row path. So a sequence's outputs do not
 * depend on the thread count or on how many rows share the call (batch invariance).
 */

#include <algorithm>
#include <cmath>

#include "ctt/core/tensor.hpp"
#include "ctt/kernels/detail/gemm_kernel.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt::kernels {

/// `op(B)` (`[k, n]`), packed once into `nr`-column slivers per `kc` block of k.
class packed_matrix {
public:
    packed_matrix() = default;

    /// Packs `op(B)`: `B[k, n]` for `transpose::no`, `B[n, k]` read transposed for `yes`.
    packed_matrix(index_t k, index_t n, const float* b, index_t ldb, transpose tb)
        : k_(k)
        , n_(n)
        , n_padded_((n + detail::gemm_blocking::nr - 1) / detail::gemm_blocking::nr *
                    detail::gemm_blocking::nr)
        , data_(k * n_padded_) {
        using blk = detail::gemm_blocking;
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            const float* block = tb == transpose::no ? b + pc * ldb : b + pc;
            detail::pack_b(kc, n, block, ldb, tb, data_.data() + pc * n_padded_);
        }
    }

    [[nodiscard]] index_t rows() const noexcept { return k_; } ///< k
    [[nodiscard]] index_t cols() const noexcept { return n_; } ///< n
    [[nodiscard]] bool empty() const noexcept { return k_ == 0 || n_ == 0; }
    [[nodiscard]] index_t bytes() const noexcept { return data_.size() * sizeof(float); }

    /// The slivers of columns `[j, ...)` (j a multiple of nr) in the k block starting at `pc`.
    [[nodiscard]] const float* block(index_t pc, index_t j) const noexcept {
        const index_t kc = std::min(detail::gemm_blocking::kc, k_ - pc);
        return data_.data() + pc * n_padded_ + j * kc;
    }

private:
    index_t k_ = 0;
    index_t n_ = 0;
    index_t n_padded_ = 0;
    tensor<float, shape<dyn>> data_;
};

namespace detail {

/// The one-row product over slivers `[s0, s1)`: each lane of each sliver is the micro-kernel's
/// chain for that element. `S` slivers run together to hide the FMA latency.
template <index_t S>
inline void gemv_packed_slivers(index_t s0, const float* x, const packed_matrix& b, float* y,
                                float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    constexpr index_t nv = blk::nr_registers;
    constexpr index_t nr = blk::nr;
    const index_t k = b.rows();
    const index_t n = b.cols();
    const fbatch alpha_v(alpha);
    for (index_t pc = 0; pc < k; pc += blk::kc) {
        const index_t kc = std::min(blk::kc, k - pc);
        const bool first = pc == 0;
        const float* pb = b.block(pc, s0 * nr);
        fbatch acc[S][nv];
        static_for<S>([&](auto s) { static_for<nv>([&](auto v) { acc[s][v] = fbatch(0.f); }); });
        for (index_t p = 0; p < kc; ++p) {
            const fbatch xv(x[pc + p]);
            static_for<S>([&](auto s) {
                static_for<nv>([&](auto v) {
                    acc[s][v] = simd::fma(
                        xv, fbatch::load_aligned(pb + s * kc * nr + p * nr + v * lanes), acc[s][v]);
                });
            });
        }
        static_for<S>([&](auto s) {
            const index_t j0 = (s0 + s) * nr;
            const index_t cols = std::min(nr, n - j0);
            if (cols == nr) {
                static_for<nv>([&](auto v) {
                    float* yj = y + j0 + v * lanes;
                    const fbatch bv = first && bias != nullptr
                                          ? fbatch::load_unaligned(bias + j0 + v * lanes)
                                          : fbatch(0.f);
                    const fbatch init =
                        (!first || accumulate) ? fbatch::load_unaligned(yj) + bv : bv;
                    simd::fma(alpha_v, acc[s][v], init).store_unaligned(yj);
                });
            } else {
                alignas(64) float tile[nr];
                static_for<nv>([&](auto v) { acc[s][v].store_aligned(tile + v * lanes); });
                for (index_t j = 0; j < cols; ++j) {
                    const float bj = first && bias != nullptr ? bias[j0 + j] : 0.f;
                    const float init = (!first || accumulate) ? y[j0 + j] + bj : bj;
                    y[j0 + j] = std::fma(alpha, tile[j], init);
                }
            }
        });
    }
}

/// One thread's share of `gemm_packed`: columns `[j0, j0 + nn)` through the loop nest.
inline void gemm_packed_serial(index_t m, index_t j0, index_t nn, const float* a, index_t lda,
                               const packed_matrix& b, float* c, index_t ldc, float alpha,
                               bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    const index_t k = b.rows();
    const index_t mc_max = (std::min(m, blk::mc) + blk::mr - 1) / blk::mr * blk::mr;
    float* pa = thread_workspace().reserve(blk::kc * mc_max);
    for (index_t jc = j0; jc < j0 + nn; jc += blk::nc) {
        const index_t nc = std::min(blk::nc, j0 + nn - jc);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            const float* pb = b.block(pc, jc);
            const bool first = pc == 0;
            for (index_t ic = 0; ic < m; ic += blk::mc) {
                const index_t mc = std::min(blk::mc, m - ic);
                pack_a(mc, kc, a + ic * lda + pc, lda, pa);
                for (index_t jr = 0; jr < nc; jr += blk::nr) {
                    const index_t cols = std::min(blk::nr, nc - jr);
                    const tile_epilogue epi{alpha, !first || accumulate,
                                            first && bias != nullptr ? bias + jc + jr : nullptr};
                    for (index_t ir = 0; ir < mc; ir += blk::mr) {
                        const index_t rows = std::min(blk::mr, mc - ir);
                        float* c_tile = c + (ic + ir) * ldc + jc + jr;
                        if (rows == blk::mr) {
                            micro_kernel<blk::mr>(kc, pa + ir * blk::kc, pb + jr * kc, c_tile, ldc,
                                                  rows, cols, epi);
                        } else {
                            micro_kernel_short(kc, pa + ir * blk::kc, pb + jr * kc, c_tile, ldc,
                                               rows, cols, epi);
                        }
                    }
                }
            }
        }
    }
}

} // namespace detail

/**
 * @brief `y[n] = alpha * x[k] op(B) + bias (+ y)` for one row `x`, read from the packed slivers
 *        in place, bit-identical to the same row through `gemm_packed`.
 */
inline void gemv_packed(const float* x, const packed_matrix& b, float* y, float alpha = 1.f,
                        bool accumulate = false, const float* bias = nullptr) {
    constexpr index_t nr = detail::gemm_blocking::nr;
    constexpr index_t group = 4; // slivers per task: 8 accumulator chains
    const index_t slivers = (b.cols() + nr - 1) / nr;
    const index_t tasks = (slivers + group - 1) / group;
    // Bound by the bytes of B: a second thread pays once B is well past the L2 (2 MiB of
    // weights; a parallel region costs microseconds, and much more on a busy machine).
    const int threads = b.rows() * b.cols() >= (index_t{1} << 19) ? simd::max_threads() : 1;
    const auto run = [&](index_t t) {
        index_t s = t * group;
        const index_t end = std::min(slivers, s + group);
        for (; s + 4 <= end; s += 4) {
            detail::gemv_packed_slivers<4>(s, x, b, y, alpha, accumulate, bias);
        }
        for (; s < end; ++s) {
            detail::gemv_packed_slivers<1>(s, x, b, y, alpha, accumulate, bias);
        }
    };
    if (threads > 1 && tasks > 1) {
        // One contiguous range of tasks per thread (static schedule).
        const auto t = static_cast<index_t>(threads);
        const index_t per = (tasks + t - 1) / t;
        simd::parallel_for(
            0, t,
            [&](index_t i) {
                for (index_t task = i * per; task < std::min(tasks, (i + 1) * per); ++task) {
                    run(task);
                }
            },
            threads);
    } else {
        for (index_t task = 0; task < tasks; ++task) {
            run(task);
        }
    }
}

/**
 * @brief `C[m, n] = alpha * A[m, k] op(B) + bias (+ C)` with `op(B)` packed once. Rows go
 *        through the one-row path for `m == 1`, the packed loop nest otherwise; either way
 *        every row's result is the same (see the file comment).
 */
inline void gemm_packed(index_t m, const float* a, index_t lda, const packed_matrix& b, float* c,
                        index_t ldc, float alpha = 1.f, bool accumulate = false,
                        const float* bias = nullptr) {
    using blk = detail::gemm_blocking;
    const index_t n = b.cols();
    const index_t k = b.rows();
    if (m == 0 || n == 0) {
        return;
    }
    if (k == 0) {
        detail::gemm_empty_k(m, n, c, ldc, accumulate, bias);
        return;
    }
    if (m == 1) {
        gemv_packed(a, b, c, alpha, accumulate, bias);
        return;
    }
    int threads = simd::max_threads();
    if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < 1.0e6) {
        threads = 1;
    }
    const index_t col_tiles = (n + blk::nr - 1) / blk::nr;
    const auto t = static_cast<index_t>(threads);
    if (threads > 1 && col_tiles >= 2 * t) {
        const index_t per = (col_tiles + t - 1) / t * blk::nr;
        simd::parallel_for(
            0, t,
            [&](index_t i) {
                const index_t j0 = std::min(n, i * per);
                const index_t nn = std::min(per, n - j0);
                if (nn > 0) {
                    detail::gemm_packed_serial(m, j0, nn, a, lda, b, c, ldc, alpha, accumulate,
                                               bias);
                }
            },
            threads);
    } else if (threads > 1 && m >= 2 * blk::mr) {
        const index_t row_tiles = (m + blk::mr - 1) / blk::mr;
        const index_t per = (row_tiles + t - 1) / t * blk::mr;
        simd::parallel_for(
            0, t,
            [&](index_t i) {
                const index_t i0 = std::min(m, i * per);
                const index_t mm = std::min(per, m - i0);
                if (mm > 0) {
                    detail::gemm_packed_serial(mm, 0, n, a + i0 * lda, lda, b, c + i0 * ldc, ldc,
                                               alpha, accumulate, bias);
                }
            },
            threads);
    } else {
        detail::gemm_packed_serial(m, 0, n, a, lda, b, c, ldc, alpha, accumulate, bias);
    }
}

} // namespace ctt::kernels
