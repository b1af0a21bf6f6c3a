#pragma once
/**
 * @file
 * @brief The packed, cache-blocked, register-blocked single-precision gemm behind
 *        `ctt::kernels::gemm`.
 *
 * The loop nest and packing follow Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication" (ACM TOMS 34(3), 2008) and the BLIS refactoring of it (Van Zee & van de
 * Geijn, ACM TOMS 41(3), 2015): a `kc x nc` panel of B is packed into `nr`-wide column
 * slivers, an `mc x kc` block of A is copied into a compact row-major buffer, and a
 * micro-kernel keeps an `mr x nr` tile of C in registers over the whole `kc` loop,
 * broadcasting one A value per row and loading `nr / width` registers of B per step. C is
 * row-major, so the vector lanes run along n. Both layouts of B (`[k,n]` and `[n,k]`) are
 * packed into the same sliver format, so one micro-kernel serves `matmul` and `matmul_bt`.
 *
 * Threads: with OpenMP, C is split into one column block per thread (row blocks when n is
 * too narrow), each a multiple of the micro-tile and run through the whole loop nest with the
 * thread's own workspace; there is no synchronisation but the final join.
 *
 * Determinism: every C element is accumulated over k in the same order (fixed `kc` blocks,
 * one fused multiply-add chain per block, the same fused epilogue for full and edge tiles),
 * whatever the thread count or the thread's share of C.
 */

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "ctt/core/shape.hpp"
#include "ctt/kernels/detail/gemm_types.hpp"
#include "ctt/kernels/detail/gemm_unroll.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"
#include "ctt/simd/transpose.hpp"

// The micro-kernel is kept out of line: inlined several times into the blocked loops, GCC 12
// stops keeping its accumulator array in registers and stores it to the stack every step.
#if defined(__GNUC__)
#define CTT_GEMM_NOINLINE __attribute__((noinline))
#else
#define CTT_GEMM_NOINLINE
#endif

namespace ctt::kernels::detail {

using fbatch = simd::batch<float>;
using ibatch = simd::batch<std::int32_t>;
inline constexpr index_t lanes = simd::width<float>;

/**
 * @brief Blocking for the target's register file and caches.
 *
 * AVX-512 has 32 vector registers: a 14 x 2 tile takes 28 accumulators, two B registers and
 * one broadcast. AVX2 and SSE have 16: a 6 x 2 tile takes 12. `kc` keeps one packed B sliver
 * (`kc x nr`) in the 48 KiB L1; `mc` keeps the packed A block (`mc x kc`) in L2; `nc` bounds
 * the packed B panel. The `CTT_GEMM_*` macros override them for tuning sweeps only.
 */
struct gemm_blocking {
    static constexpr index_t register_count = lanes >= 16 ? 32 : 16;
#if defined(CTT_GEMM_NR_REGISTERS)
    static constexpr index_t nr_registers = CTT_GEMM_NR_REGISTERS;
#else
    static constexpr index_t nr_registers = 2;
#endif
#if defined(CTT_GEMM_MR)
    static constexpr index_t mr = CTT_GEMM_MR;
#else
    static constexpr index_t mr = register_count == 32 ? 14 : 6;
#endif
    static constexpr index_t nr = nr_registers * lanes;
#if defined(CTT_GEMM_KC)
    static constexpr index_t kc = CTT_GEMM_KC;
#else
    static constexpr index_t kc = 256;
#endif
#if defined(CTT_GEMM_MC_SLIVERS)
    static constexpr index_t mc = mr * CTT_GEMM_MC_SLIVERS;
#else
    static constexpr index_t mc = mr * 24;
#endif
#if defined(CTT_GEMM_NC_SLIVERS)
    static constexpr index_t nc = nr * CTT_GEMM_NC_SLIVERS;
#else
    static constexpr index_t nc = nr * 96;
#endif
    static_assert(mr * nr_registers + nr_registers + 1 <= register_count,
                  "gemm: the micro-tile does not fit the register file");
};

/// 64-byte aligned scratch that grows to the largest request, then is reused.
class gemm_workspace {
public:
    float* reserve(index_t floats) {
        if (floats > capacity_) {
            data_.reset(
                static_cast<float*>(::operator new (floats * sizeof(float), std::align_val_t{64})));
            capacity_ = floats;
        }
        return data_.get();
    }

private:
    struct aligned_delete {
        void operator()(float* p) const noexcept { ::operator delete (p, std::align_val_t{64}); }
    };
    std::unique_ptr<float, aligned_delete> data_;
    index_t capacity_ = 0;
};

/// One workspace per thread: packing buffers are never allocated inside the blocked loops.
inline gemm_workspace& thread_workspace() {
    thread_local gemm_workspace workspace;
    return workspace;
}

/**
 * @brief Copies `A[0:mc, 0:kc]` to `pa` with rows `gemm_blocking::kc` apart
 *        (`pa[i * kc_max + p] = A[i, p]`), zero rows up to a multiple of `mr`.
 *
 * A stays row-major, so packing is a copy rather than a transpose (2.5x cheaper than the
 * k-major sliver layout measured here), and the compile-time row distance lets the
 * micro-kernel address all `mr` rows from one pointer with constant offsets. A 1 KiB distance
 * spreads the rows over several L1 sets, where `lda` (often a multiple of 4 KiB) would put
 * them all in one.
 */
inline void pack_a(index_t mc, index_t kc, const float* a, index_t lda, float* pa) {
    constexpr index_t mr = gemm_blocking::mr;
    constexpr index_t stride = gemm_blocking::kc;
    const index_t rows_padded = (mc + mr - 1) / mr * mr;
    for (index_t i = 0; i < mc; ++i) {
        std::memcpy(pa + i * stride, a + i * lda, kc * sizeof(float));
    }
    for (index_t i = mc; i < rows_padded; ++i) {
        std::fill_n(pa + i * stride, kc, 0.f);
    }
}

/**
 * @brief Packs `op(B)[0:kc, 0:nc]` into `nr`-column slivers, k-major inside a sliver
 *        (`pb[s][p][j] = op(B)[p, s*nr + j]`); columns past `nc` are zero.
 */
inline void pack_b(index_t kc, index_t nc, const float* b, index_t ldb, transpose tb, float* pb) {
    constexpr index_t nr = gemm_blocking::nr;
    for (index_t s = 0; s < nc; s += nr) {
        const index_t cols = std::min(nr, nc - s);
        float* dst = pb + s * kc;
        if (tb == transpose::no) {
            const float* src = b + s;
            if (cols == nr) {
                for (index_t p = 0; p < kc; ++p) {
                    for (index_t v = 0; v < gemm_blocking::nr_registers; ++v) {
                        fbatch::load_unaligned(src + p * ldb + v * lanes)
                            .store_aligned(dst + p * nr + v * lanes);
                    }
                }
            } else {
                for (index_t p = 0; p < kc; ++p) {
                    std::memcpy(dst + p * nr, src + p * ldb, cols * sizeof(float));
                    std::fill(dst + p * nr + cols, dst + (p + 1) * nr, 0.f);
                }
            }
        } else {
            // B is stored [n, k]: packed row p holds element p of `cols` rows of B.
            const float* src = b + s * ldb;
            index_t j = 0;
            if constexpr (lanes == simd::transpose_block_size) {
                // AVX-512: 16 x 16 blocks transposed in registers, each row of B read a cache
                // line at a time. xsimd's strided gather built its mask on every call and
                // took 40% of loading a LLaMA (its [out, in] weights are packed this way).
                constexpr index_t T = simd::transpose_block_size;
                if (cols == nr) {
                    // kc % 16 trailing elements per row, counted as such: GCC 12 warned of
                    // undefined iterations (-Waggressive-loop-optimizations) when the tail ran
                    // from the blocks' end to kc.
                    const index_t tail = kc % T;
                    const index_t p0 = kc - tail;
                    for (index_t p = 0; p < p0; p += T) {
                        for (index_t j0 = 0; j0 < nr; j0 += T) {
                            simd::transpose_block(src + j0 * ldb + p, ldb, dst + p * nr + j0, nr);
                        }
                    }
                    for (index_t r = 0; r < nr; ++r) {
                        for (index_t t = 0; t < tail; ++t) {
                            dst[(p0 + t) * nr + r] = src[r * ldb + p0 + t];
                        }
                    }
                    j = cols;
                }
            } else if (cols == nr && (nr - 1) * ldb <= index_t{0x7fffffff}) {
                // A register at a time with a strided gather (the rows stay in L1 across p).
                alignas(64) std::int32_t offsets[lanes];
                for (index_t l = 0; l < lanes; ++l) {
                    offsets[l] = static_cast<std::int32_t>(l * ldb);
                }
                const auto idx = ibatch::load_aligned(offsets);
                for (index_t p = 0; p < kc; ++p) {
                    static_for<gemm_blocking::nr_registers>([&](auto v) {
                        fbatch::gather(src + v * lanes * ldb + p, idx)
                            .store_aligned(dst + p * nr + v * lanes);
                    });
                }
                j = cols;
            }
            for (; j < cols; ++j) {
                const float* r = src + j * ldb;
                for (index_t p = 0; p < kc; ++p) {
                    dst[p * nr + j] = r[p];
                }
            }
            for (index_t p = 0; p < kc; ++p) {
                std::fill(dst + p * nr + cols, dst + (p + 1) * nr, 0.f);
            }
        }
    }
}

/// How a micro-tile is written back: `c = fma(alpha, acc, (load_c ? c : 0) + bias)`.
struct tile_epilogue {
    float alpha;
    bool load_c;
    const float* bias; // nullable; already offset to the tile's first column
};

/**
 * @brief The register-blocked micro-kernel: `MR x nr` accumulators live in registers across
 *        the whole `kc` loop; `rows x cols` of them are written to C. `MR` is the blocking's
 *        `mr` except for the last, shorter sliver of a block (fewer rows computed, same packed
 *        layout), so that M = 128 does not pay for 140 rows.
 */
template <index_t MR>
CTT_GEMM_NOINLINE void micro_kernel(index_t kc, const float* __restrict pa,
                                    const float* __restrict pb, float* c, index_t ldc, index_t rows,
                                    index_t cols, const tile_epilogue& epi) {
    constexpr index_t mr = MR;
    constexpr index_t a_stride = gemm_blocking::kc;
    constexpr index_t nv = gemm_blocking::nr_registers;
    constexpr index_t nr = gemm_blocking::nr;
    fbatch acc[mr][nv];
    static_for<mr>([&](auto i) { static_for<nv>([&](auto v) { acc[i][v] = fbatch(0.f); }); });
    for (index_t p = 0; p < kc; ++p) {
        fbatch bv[nv];
        static_for<nv>([&](auto v) { bv[v] = fbatch::load_aligned(pb + p * nr + v * lanes); });
        static_for<mr>([&](auto i) {
            const fbatch av(pa[i * a_stride + p]);
            static_for<nv>([&](auto v) { acc[i][v] = simd::fma(av, bv[v], acc[i][v]); });
        });
    }

    const fbatch alpha(epi.alpha);
    if (rows == mr && cols == nr) {
        fbatch bias[nv];
        for (index_t v = 0; v < nv; ++v) {
            bias[v] =
                epi.bias != nullptr ? fbatch::load_unaligned(epi.bias + v * lanes) : fbatch(0.f);
        }
        static_for<mr>([&](auto i) {
            float* ci = c + i * ldc;
            static_for<nv>([&](auto v) {
                const fbatch init =
                    epi.load_c ? fbatch::load_unaligned(ci + v * lanes) + bias[v] : bias[v];
                simd::fma(alpha, acc[i][v], init).store_unaligned(ci + v * lanes);
            });
        });
        return;
    }
    // Edge tile: the same fused operation per element, in scalar form.
    alignas(64) float tile[mr * nr];
    static_for<mr>([&](auto i) {
        static_for<nv>([&](auto v) { acc[i][v].store_aligned(tile + i * nr + v * lanes); });
    });
    for (index_t i = 0; i < rows; ++i) {
        float* ci = c + i * ldc;
        for (index_t j = 0; j < cols; ++j) {
            const float bias = epi.bias != nullptr ? epi.bias[j] : 0.f;
            const float init = epi.load_c ? ci[j] + bias : bias;
            ci[j] = std::fma(epi.alpha, tile[i * nr + j], init);
        }
    }
}

/// The last sliver of a block, `rows < mr`: the kernel for the next even row count.
inline void micro_kernel_short(index_t kc, const float* pa, const float* pb, float* c, index_t ldc,
                               index_t rows, index_t cols, const tile_epilogue& epi) {
    bool done = false;
    static_for<(gemm_blocking::mr + 1) / 2>([&](auto h) {
        constexpr index_t r = std::min(gemm_blocking::mr, 2 * (h + 1));
        if (!done && rows <= r) {
            micro_kernel<r>(kc, pa, pb, c, ldc, rows, cols, epi);
            done = true;
        }
    });
}

/// `C = alpha * 0 + bias (+ C)`: the k == 0 corner, kept in the same fused form.
inline void gemm_empty_k(index_t m, index_t n, float* c, index_t ldc, bool accumulate,
                         const float* bias) {
    for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const float b = bias != nullptr ? bias[j] : 0.f;
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + b : b;
        }
    }
}

/// One thread's share of the gemm: the full Goto/BLIS loop nest over its block of C.
inline void gemm_serial(index_t m, index_t n, index_t k, const float* a, index_t lda,
                        const float* b, index_t ldb, transpose tb, float* c, index_t ldc,
                        float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    const index_t kc_max = std::min(k, blk::kc);
    const index_t mc_max = (std::min(m, blk::mc) + blk::mr - 1) / blk::mr * blk::mr;
    const index_t nc_max = (std::min(n, blk::nc) + blk::nr - 1) / blk::nr * blk::nr;
    float* pb = thread_workspace().reserve(kc_max * nc_max + blk::kc * mc_max);
    float* pa = pb + kc_max * nc_max;

    for (index_t jc = 0; jc < n; jc += blk::nc) {
        const index_t nc = std::min(blk::nc, n - jc);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            const float* b_block = tb == transpose::no ? b + pc * ldb + jc : b + jc * ldb + pc;
            pack_b(kc, nc, b_block, ldb, tb, pb);
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

/**
 * @brief Splits `C[m, n]` over threads: one block of columns per thread (blocks of rows when n
 *        is too narrow), in multiples of the micro-tile so that every thread sees the same
 *        tiling; `share(i0, rows, j0, cols)` runs one thread's block. Below ~2 MFLOP a parallel
 *        region costs more than it saves, and the whole product is one share.
 */
template <class Share>
inline void split_gemm(index_t m, index_t n, index_t k, Share&& share) {
    using blk = gemm_blocking;
    int threads = simd::max_threads();
    if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < 1.0e6) {
        threads = 1;
    }
    const index_t col_tiles = (n + blk::nr - 1) / blk::nr;
    const index_t row_tiles = (m + blk::mr - 1) / blk::mr;
    const auto t = static_cast<index_t>(threads);
    if (threads > 1 && col_tiles >= 2 * t) {
        const index_t per = (col_tiles + t - 1) / t * blk::nr;
        simd::parallel_for(
            0, t,
            [&](index_t i) {
                const index_t j0 = std::min(n, i * per);
                const index_t nn = std::min(per, n - j0);
                if (nn > 0) {
                    share(index_t{0}, m, j0, nn);
                }
            },
            threads);
    } else if (threads > 1 && row_tiles >= 2 * t) {
        const index_t per = (row_tiles + t - 1) / t * blk::mr;
        simd::parallel_for(
            0, t,
            [&](index_t i) {
                const index_t i0 = std::min(m, i * per);
                const index_t mm = std::min(per, m - i0);
                if (mm > 0) {
                    share(i0, mm, index_t{0}, n);
                }
            },
            threads);
    } else {
        share(index_t{0}, m, index_t{0}, n);
    }
}

/// The gemm over threads (`split_gemm`), each share through the whole loop nest.
inline void gemm_dispatch(index_t m, index_t n, index_t k, const float* a, index_t lda,
                          const float* b, index_t ldb, transpose tb, float* c, index_t ldc,
                          float alpha, bool accumulate, const float* bias) {
    if (m == 0 || n == 0) {
        return;
    }
    if (k == 0) {
        gemm_empty_k(m, n, c, ldc, accumulate, bias);
        return;
    }
    split_gemm(m, n, k, [&](index_t i0, index_t mm, index_t j0, index_t nn) {
        gemm_serial(mm, nn, k, a + i0 * lda, lda, tb == transpose::no ? b + j0 : b + j0 * ldb, ldb,
                    tb, c + i0 * ldc + j0, ldc, alpha, accumulate,
                    bias != nullptr ? bias + j0 : nullptr);
    });
}

} // namespace ctt::kernels::detail
