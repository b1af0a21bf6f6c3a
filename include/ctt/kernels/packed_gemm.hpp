#pragma once
/**
 * @file
 * @brief A weight matrix packed once into the GEMM's sliver layout, in `f32`, `bf16`, `f16` or
 *        block-scaled `int8`, and the products that read it in place: `gemm_packed` (prompt
 *        processing, many rows) and its one-row form (decode), which mirrors the micro-kernel's
 *        arithmetic element for element.
 *
 * `packed_matrix` holds `op(B)` (`[k, n]`) as `k / kc` blocks of `ceil(n / nr)` slivers, each
 * sliver `kc x nr` elements, k-major: exactly what `pack_b` writes for one `(jc, pc)` block, for
 * every block at once, in the storage type. The GEMM then never packs B (no gathers for
 * `[out, in]` weights, no copies), and the one-row product reads the same bytes sequentially.
 *
 * Half precision: `bf16` and `f16` weights are widened to `float` in registers, exactly
 * (`simd/widen.hpp`). The one-row path widens while it streams the weights (decode reads half
 * the bytes); the many-row path widens each sliver once per block of A rows into a buffer in L1
 * and runs the `float` micro-kernel on it, so the conversion costs under 1% of the
 * multiply-adds. Either way the result is bit-identical to the `float` product on the widened
 * matrix (`widened()`).
 *
 * `int8` (llama.cpp's Q8_0 scheme, on both operands): a weight is `q * scale`, one scale per
 * column and block of 32 along k (`int8_block`), and the activation rows are quantised the same
 * way, per group of 32, once per call. Each group's dot product is an exact integer
 * (`vpdpbusd` on AVX512-VNNI, plain loops elsewhere: the same integers), scaled into a `float`
 * chain (`detail/q8.hpp`). Decode reads a quarter of f32's bytes with one instruction per 64 of
 * them; accumulation stays `float`.
 *
 * Determinism: every output element is `fma(alpha, acc_b, c)` over the k blocks `b` in order,
 * `acc_b` one fused multiply-add chain over the block's k (int8: its groups of 32) in order,
 * starting from zero, with the bias added at the first block: the same operations whether the
 * row goes through the micro-kernel (any tile, any thread) or the one-row path. So a
 * sequence's outputs do not depend on the thread count or on how many rows share the call
 * (batch invariance).
 */

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/io/half.hpp"
#include "ctt/kernels/detail/gemm_kernel.hpp"
#include "ctt/kernels/detail/q8.hpp"
#include "ctt/simd/parallel.hpp"
#include "ctt/simd/widen.hpp"

namespace ctt::kernels {

namespace detail {

#if defined(__AVX512F__)
/// A register of 16 pairs of 16-bit elements (`[2q, 2q + 1]` in lane `q`): its even and odd
/// elements widened to `float`, exactly (bf16 by a shift or a mask, f16 by `vcvtph2ps`).
template <weight_type W>
inline void widen_pairs(__m512i v, __m512& even, __m512& odd) noexcept {
    if constexpr (W == weight_type::bf16) {
        even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        odd = _mm512_castsi512_ps(
            _mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
    } else {
        even = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
        odd = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
    }
}
#endif

/// One element of a row stored as `W` (`f32`, `bf16` or `f16`), widened.
template <weight_type W>
inline float widen_one(const void* row, index_t p) noexcept {
    if constexpr (W == weight_type::f32) {
        return static_cast<const float*>(row)[p];
    } else if constexpr (W == weight_type::bf16) {
        return bf16_to_float(static_cast<const std::uint16_t*>(row)[p]);
    } else {
        return fp16_to_float(static_cast<const std::uint16_t*>(row)[p]);
    }
}

/**
 * @brief Packs `kc x cols` of `op(B)` from a checkpoint's rows read in place, stored as `W`,
 *        into one `kc x nr` float sliver, columns past `cols` zero: the sliver `pack_b` writes.
 *        `tb` as for `pack_b`: `transpose::yes`, `cols` rows of `B[n, k]` (`[out, in]`) from
 *        the block's first k; `transpose::no`, `kc` rows of `B[k, n]` (`[in, out]`) from the
 *        sliver's first column. Rows are `ld` elements apart.
 */
template <weight_type W>
inline void pack_rows(index_t kc, index_t cols, const void* rows, index_t ld, transpose tb,
                      float* dst) {
    constexpr index_t nr = gemm_blocking::nr;
    if constexpr (W == weight_type::f32) {
        pack_b(kc, cols, static_cast<const float*>(rows), ld, tb, dst);
    } else if (tb == transpose::no) {
        const auto* src = static_cast<const std::uint16_t*>(rows);
        for (index_t p = 0; p < kc; ++p) {
            const std::uint16_t* row = src + p * ld;
            if (cols == nr) {
                for (index_t c = 0; c < nr; c += lanes) {
                    (W == weight_type::bf16 ? simd::widen_bf16(row + c) : simd::widen_f16(row + c))
                        .store_aligned(dst + p * nr + c);
                }
            } else {
                for (index_t c = 0; c < nr; ++c) {
                    dst[p * nr + c] = c < cols ? widen_one<W>(row, c) : 0.f;
                }
            }
        }
    } else {
        const auto* src = static_cast<const std::uint16_t*>(rows);
        index_t p0 = 0;
#if defined(__AVX512F__)
        if (cols == nr && nr % 16 == 0) {
            // 16 rows x 32 elements: one 16 x 16 transpose of element pairs, then each pair
            // register widened into two packed rows.
            p0 = kc / 32 * 32;
            for (index_t j0 = 0; j0 < nr; j0 += 16) {
                for (index_t p = 0; p < p0; p += 32) {
                    __m512 r[16];
                    for (index_t i = 0; i < 16; ++i) {
                        r[i] = _mm512_castsi512_ps(_mm512_loadu_si512(src + (j0 + i) * ld + p));
                    }
                    simd::transpose_registers(r);
                    for (index_t q = 0; q < 16; ++q) {
                        __m512 even;
                        __m512 odd;
                        widen_pairs<W>(_mm512_castps_si512(r[q]), even, odd);
                        _mm512_storeu_ps(dst + (p + 2 * q) * nr + j0, even);
                        _mm512_storeu_ps(dst + (p + 2 * q + 1) * nr + j0, odd);
                    }
                }
            }
        }
#endif
        for (index_t p = p0; p < kc; ++p) {
            for (index_t c = 0; c < nr; ++c) {
                dst[p * nr + c] = c < cols ? widen_one<W>(src + c * ld, p) : 0.f;
            }
        }
    }
}

} // namespace detail

/// `op(B)` (`[k, n]`), packed once into `nr`-column slivers per `kc` block of k.
class packed_matrix {
    using blk = detail::gemm_blocking;
    static_assert(blk::kc % int8_block == 0, "packed_matrix: kc must hold whole int8 blocks");

public:
    packed_matrix() = default;

    /// Packs `op(B)`: `B[k, n]` for `transpose::no`, `B[n, k]` read transposed for `yes`, and
    /// stores it as `type` (rounded to nearest even for `bf16`/`f16`; quantised for `int8`).
    packed_matrix(index_t k, index_t n, const float* b, index_t ldb, transpose tb,
                  weight_type type = weight_type::f32)
        : k_(k)
        , n_(n)
        , n_padded_((n + blk::nr - 1) / blk::nr * blk::nr)
        , type_(type) {
        data_ = allocate(storage_bytes());
        if (type == weight_type::int8) {
            scales_.assign(groups() * n_padded_, 0.f);
        }
        detail::gemm_workspace scratch; // pack_b stores aligned
        float* sliver = scratch.reserve(blk::kc * blk::nr);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            for (index_t j = 0; j < n; j += blk::nr) {
                const index_t cols = std::min(blk::nr, n - j);
                const float* src = tb == transpose::no ? b + pc * ldb + j : b + j * ldb + pc;
                detail::pack_b(kc, cols, src, ldb, tb, sliver);
                store_sliver(pc, j, kc, sliver);
            }
        }
    }

    /**
     * @brief `op(B)` read in place from a checkpoint's weight rows (memory-mapped) stored as
     *        `f32`, `bf16` or `f16`: no copy, no conversion.
     *
     * `tb` says how `data` holds `op(B)`, as for the packing constructor: `transpose::yes`,
     * `B[n, k]` (`n` rows of `k` elements: `torch.nn.Linear`'s `[out, in]`); `transpose::no`,
     * `B[k, n]` (`k` rows of `n`: GPT-2's `Conv1D`, `[in, out]`). Each element is aligned to its
     * size. `owner` keeps the memory alive (the mapping of the file) for as long as the matrix
     * or a copy of it lives. The products widen (and for `[n, k]` transpose) the rows as they
     * read them, and every result is bit-identical to the product on the same matrix packed
     * (`packed_matrix(k, n, ...)` from the widened rows, the same `tb`): same chains, in the
     * same order.
     */
    [[nodiscard]] static packed_matrix in_place(index_t k, index_t n, const void* data,
                                                transpose tb, weight_type type,
                                                std::shared_ptr<const void> owner) {
        if (type == weight_type::int8) {
            throw value_error("packed_matrix::in_place: int8 weights are quantised at load; "
                              "only f32, bf16 and f16 rows are read in place");
        }
        if (k * n > 0 && data == nullptr) {
            throw value_error("packed_matrix::in_place: no rows to read");
        }
        packed_matrix m;
        m.k_ = k;
        m.n_ = n;
        m.n_padded_ = n;
        m.type_ = type;
        m.rows_ = static_cast<const std::byte*>(data);
        m.layout_ = tb;
        m.owner_ = std::move(owner);
        return m;
    }

    packed_matrix(const packed_matrix& other)
        : k_(other.k_)
        , n_(other.n_)
        , n_padded_(other.n_padded_)
        , type_(other.type_)
        , data_(other.in_place() ? storage{} : allocate(other.storage_bytes()))
        , scales_(other.scales_)
        , rows_(other.rows_)
        , layout_(other.layout_)
        , owner_(other.owner_) {
        if (!in_place()) {
            std::copy_n(other.data_.get(), storage_bytes(), data_.get());
        }
    }
    packed_matrix(packed_matrix&&) noexcept = default;
    packed_matrix& operator=(const packed_matrix& other) {
        if (this != &other) {
            packed_matrix copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    packed_matrix& operator=(packed_matrix&&) noexcept = default;
    ~packed_matrix() = default;

    [[nodiscard]] index_t rows() const noexcept { return k_; } ///< k
    [[nodiscard]] index_t cols() const noexcept { return n_; } ///< n
    [[nodiscard]] bool empty() const noexcept { return k_ == 0 || n_ == 0; }
    [[nodiscard]] weight_type type() const noexcept { return type_; }
    /// Whether the matrix reads a checkpoint's rows in place (`in_place`) rather than slivers
    /// it owns.
    [[nodiscard]] bool in_place() const noexcept { return rows_ != nullptr; }
    /// `in_place()`: how the rows hold `op(B)`: `transpose::yes` for `B[n, k]` (`[out, in]`),
    /// `transpose::no` for `B[k, n]` (`[in, out]`).
    [[nodiscard]] transpose layout() const noexcept { return layout_; }
    /// Bytes of storage (read once per product): the elements and, for `int8`, the scales; for a
    /// matrix read in place, the bytes of the rows it reads (which it does not own).
    [[nodiscard]] index_t bytes() const noexcept {
        return stored_k() * n_padded_ * element_bytes(type_) + scales_.size() * sizeof(float);
    }

    /// The stored elements of the slivers of columns `[j, ...)` (j a multiple of nr) in the k
    /// block starting at `pc`; `E` is `float`, `std::uint16_t` (bf16, f16) or `std::int8_t`.
    /// Packed matrices only (not `in_place()`).
    /// For `int8`, a block holds `ceil(kc / 32) * 32` values of k per column, in quads of 4
    /// consecutive k per column (`detail/q8.hpp`).
    template <class E = float>
    [[nodiscard]] const E* block(index_t pc, index_t j) const noexcept {
        return reinterpret_cast<const E*>(data_.get()) + pc * n_padded_ + j * block_k(pc);
    }

    /// `in_place()` from `B[n, k]`: row `j` (column `j` of `op(B)`), `E` as for `block`.
    template <class E = float>
    [[nodiscard]] const E* row(index_t j) const noexcept {
        return reinterpret_cast<const E*>(rows_) + j * k_;
    }
    /// `in_place()` from `B[k, n]`: row `p` (row `p` of `op(B)`), `E` as for `block`.
    template <class E = float>
    [[nodiscard]] const E* k_row(index_t p) const noexcept {
        return reinterpret_cast<const E*>(rows_) + p * n_;
    }

    /// `int8`: the `nr` scales of the slivers of columns `[j, ...)` for k block `g` of 32.
    [[nodiscard]] const float* scales(index_t g, index_t j) const noexcept {
        return scales_.data() + g * n_padded_ + j;
    }
    /// Values of k stored per column in the block starting at `pc`: `min(kc, k - pc)`, or for
    /// `int8` that rounded up to whole groups of 32.
    [[nodiscard]] index_t block_k(index_t pc) const noexcept {
        const index_t kc = std::min(blk::kc, k_ - pc);
        return type_ == weight_type::int8 ? detail::q8_padded(kc) : kc;
    }
    /// `int8`: floats from one group's scales to the next's.
    [[nodiscard]] index_t scale_stride() const noexcept { return n_padded_; }

    /// `int8`: the stored integer of element `(p, j)` of `op(B)`; its value is
    /// `quantised(p, j) * scale(p, j)`.
    [[nodiscard]] std::int8_t quantised(index_t p, index_t j) const noexcept {
        const index_t pc = p / blk::kc * blk::kc;
        const index_t q = p - pc;
        const index_t c = j % blk::nr;
        return block<std::int8_t>(pc, j - c)[detail::q8_offset(q, c, blk::nr)];
    }
    /// `int8`: the scale of element `(p, j)`'s block of 32 along k.
    [[nodiscard]] float scale(index_t p, index_t j) const noexcept {
        return scales_[static_cast<std::size_t>(p / int8_block * n_padded_ + j)];
    }

    /// The `kc x nr` floats the kernels read for one sliver (widened, scaled), into `out`.
    void widen_sliver(index_t pc, index_t j, float* out) const noexcept {
        constexpr index_t nr = blk::nr;
        constexpr index_t lanes = detail::lanes;
        const index_t kc = std::min(blk::kc, k_ - pc);
        if (in_place()) {
            // The sliver's first element: row j from k `pc` of `[n, k]`, or row `pc` from
            // column j of `[k, n]`.
            const bool n_k = layout_ == transpose::yes;
            const index_t first = n_k ? j * k_ + pc : pc * n_ + j;
            const std::byte* at = rows_ + first * element_bytes(type_);
            const index_t cols = std::min(nr, n_ - j);
            const index_t ld = n_k ? k_ : n_;
            switch (type_) {
            case weight_type::f32:
                detail::pack_rows<weight_type::f32>(kc, cols, at, ld, layout_, out);
                return;
            case weight_type::bf16:
                detail::pack_rows<weight_type::bf16>(kc, cols, at, ld, layout_, out);
                return;
            case weight_type::f16:
                detail::pack_rows<weight_type::f16>(kc, cols, at, ld, layout_, out);
                return;
            case weight_type::int8:
                return; // refused by in_place
            }
        }
        switch (type_) {
        case weight_type::f32:
            std::copy_n(block<float>(pc, j), kc * nr, out);
            return;
        case weight_type::bf16:
        case weight_type::f16: {
            const std::uint16_t* src = block<std::uint16_t>(pc, j);
            const bool bf = type_ == weight_type::bf16;
            for (index_t i = 0; i < kc * nr; i += lanes) {
                (bf ? simd::widen_bf16(src + i) : simd::widen_f16(src + i)).store_aligned(out + i);
            }
            return;
        }
        case weight_type::int8: {
            const std::int8_t* src = block<std::int8_t>(pc, j);
            for (index_t p = 0; p < kc; ++p) {
                const float* s = scales((pc + p) / int8_block, j);
                for (index_t c = 0; c < nr; ++c) {
                    out[p * nr + c] = static_cast<float>(src[detail::q8_offset(p, c, nr)]) * s[c];
                }
            }
            return;
        }
        }
    }

    /// `op(B)` as the kernels read it, `[k, n]` row-major: the `float` matrix whose product
    /// every call reproduces bit for bit (the scalar twin's input).
    [[nodiscard]] std::vector<float> widened() const {
        std::vector<float> out(k_ * n_);
        detail::gemm_workspace scratch;
        float* buf = scratch.reserve(blk::kc * blk::nr);
        for (index_t pc = 0; pc < k_; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k_ - pc);
            for (index_t j = 0; j < n_; j += blk::nr) {
                widen_sliver(pc, j, buf);
                for (index_t p = 0; p < kc; ++p) {
                    for (index_t c = j; c < std::min(n_, j + blk::nr); ++c) {
                        out[(pc + p) * n_ + c] = buf[p * blk::nr + (c - j)];
                    }
                }
            }
        }
        return out;
    }

private:
    struct aligned_delete {
        void operator()(std::byte* p) const noexcept {
            ::operator delete (p, std::align_val_t{64});
        }
    };

    using storage = std::unique_ptr<std::byte, aligned_delete>;

    /// Values of k stored per column: k, or for `int8` whole groups of 32.
    [[nodiscard]] index_t stored_k() const noexcept {
        return type_ == weight_type::int8 ? detail::q8_padded(k_) : k_;
    }
    [[nodiscard]] std::size_t storage_bytes() const noexcept {
        return in_place() ? 0
                          : static_cast<std::size_t>(stored_k() * n_padded_) * element_bytes(type_);
    }
    static storage allocate(std::size_t bytes) {
        return storage(static_cast<std::byte*>(
            ::operator new (std::max<std::size_t>(bytes, 64), std::align_val_t{64})));
    }

    [[nodiscard]] index_t groups() const noexcept { return (k_ + int8_block - 1) / int8_block; }

    /// Stores one packed `kc x nr` float sliver in the storage type.
    void store_sliver(index_t pc, index_t j, index_t kc, const float* sliver) {
        constexpr index_t nr = blk::nr;
        std::byte* base = data_.get() + (pc * n_padded_ + j * block_k(pc)) * element_bytes(type_);
        switch (type_) {
        case weight_type::f32:
            std::copy_n(sliver, kc * nr, reinterpret_cast<float*>(base));
            return;
        case weight_type::bf16:
        case weight_type::f16: {
            auto* dst = reinterpret_cast<std::uint16_t*>(base);
            const bool bf = type_ == weight_type::bf16;
            for (index_t i = 0; i < kc * nr; ++i) {
                dst[i] = bf ? float_to_bf16(sliver[i]) : float_to_fp16(sliver[i]);
            }
            return;
        }
        case weight_type::int8: {
            auto* dst = reinterpret_cast<std::int8_t*>(base);
            std::fill_n(dst, block_k(pc) * nr, std::int8_t{0}); // the last group's tail
            for (index_t g0 = 0; g0 < kc; g0 += int8_block) {
                const index_t g1 = std::min(kc, g0 + int8_block);
                float* s = scales_.data() + ((pc + g0) / int8_block) * n_padded_ + j;
                for (index_t c = 0; c < nr; ++c) {
                    float amax = 0.f;
                    bool finite = true;
                    for (index_t p = g0; p < g1; ++p) {
                        const float w = sliver[p * nr + c];
                        finite = finite && std::isfinite(w);
                        amax = std::max(amax, std::fabs(w));
                    }
                    // A non-finite weight makes its whole block NaN (0 * NaN): it propagates as
                    // a value, as it would in f32, and never reaches a float-to-int conversion.
                    const float d = finite ? amax / 127.f : std::numeric_limits<float>::quiet_NaN();
                    s[c] = d;
                    for (index_t p = g0; p < g1; ++p) {
                        dst[detail::q8_offset(p, c, nr)] =
                            finite && d > 0.f ? detail::q8_rows::quantised(sliver[p * nr + c], d)
                                              : std::int8_t{0};
                    }
                }
            }
            return;
        }
        }
    }

    index_t k_ = 0;
    index_t n_ = 0;
    index_t n_padded_ = 0;
    weight_type type_ = weight_type::f32;
    storage data_;
    std::vector<float> scales_;
    const std::byte* rows_ = nullptr;   ///< `in_place()`: the rows, not owned
    transpose layout_ = transpose::yes; ///< `in_place()`: `B[n, k]` (yes) or `B[k, n]` (no)
    std::shared_ptr<const void> owner_; ///< keeps `rows_` alive
};

namespace detail {

/// A second per-thread buffer: one widened sliver (`kc x nr` floats) for reduced-precision B.
inline gemm_workspace& sliver_workspace() {
    thread_local gemm_workspace workspace;
    return workspace;
}

/// One register of sliver `s`, row `p`, register `v` of a block, widened.
template <weight_type W>
inline fbatch load_packed(const void* block, index_t offset) noexcept {
    static_assert(W != weight_type::int8, "int8 products go through detail/q8.hpp");
    if constexpr (W == weight_type::f32) {
        return fbatch::load_aligned(static_cast<const float*>(block) + offset);
    } else if constexpr (W == weight_type::bf16) {
        return simd::widen_bf16(static_cast<const std::uint16_t*>(block) + offset);
    } else {
        return simd::widen_f16(static_cast<const std::uint16_t*>(block) + offset);
    }
}

/// Whether the one-row bf16 product reads a sliver row as one register of 32 (AVX-512, two
/// registers per sliver row).
#if defined(__AVX512F__)
inline constexpr bool bf16_pairs = gemm_blocking::nr_registers == 2 && lanes == 16;
#else
inline constexpr bool bf16_pairs = false;
#endif

template <weight_type W>
using stored_element_t =
    std::conditional_t<W == weight_type::f32, float,
                       std::conditional_t<W == weight_type::int8, std::int8_t, std::uint16_t>>;

/// Writes one sliver's accumulators for k block `first` or not: `y = fma(alpha, acc, init)`
/// with the micro-kernel's epilogue (the bias at the first block, `y` itself after it).
inline void store_sliver_row(const fbatch (&acc)[gemm_blocking::nr_registers], index_t j0,
                             index_t cols, float* y, float alpha, bool first, bool accumulate,
                             const float* bias) {
    constexpr index_t nv = gemm_blocking::nr_registers;
    constexpr index_t nr = gemm_blocking::nr;
    if (cols == nr) {
        const fbatch alpha_v(alpha);
        static_for<nv>([&](auto v) {
            float* yj = y + j0 + v * lanes;
            const fbatch bv = first && bias != nullptr
                                  ? fbatch::load_unaligned(bias + j0 + v * lanes)
                                  : fbatch(0.f);
            const fbatch init = (!first || accumulate) ? fbatch::load_unaligned(yj) + bv : bv;
            simd::fma(alpha_v, acc[v], init).store_unaligned(yj);
        });
        return;
    }
    alignas(64) float tile[nr];
    static_for<nv>([&](auto v) { acc[v].store_aligned(tile + v * lanes); });
    for (index_t j = 0; j < cols; ++j) {
        const float bj = first && bias != nullptr ? bias[j0 + j] : 0.f;
        const float init = (!first || accumulate) ? y[j0 + j] + bj : bj;
        y[j0 + j] = std::fma(alpha, tile[j], init);
    }
}

/**
 * @brief Prefetches, row by row, the same slivers' next k block into L2 while the one-row
 *        product reads the current one. A packed sliver is `kc x nr` contiguous elements (16 KiB
 *        of bf16), and the one-row product jumps to the next block after each: left to the
 *        hardware, every jump restarts the streams cold. llama-1.1b bf16 decode, 2 threads:
 *        12.1 -> 13.7 tokens/s on a Xeon (Sapphire Rapids), 14.0-14.4 -> 16.0-16.7 on a Zen 5.
 */
template <weight_type W>
class next_block_prefetch {
public:
    next_block_prefetch(const packed_matrix& b, index_t pc, index_t s0) noexcept
        : next_(pc < b.rows() ? reinterpret_cast<const std::byte*>(
                                    b.block<stored_element_t<W>>(pc, s0 * gemm_blocking::nr))
                              : nullptr)
        , kc_(pc < b.rows() ? std::min(gemm_blocking::kc, b.rows() - pc) : 0) {}

    /// Row `p` of sliver `s` of the next block (nothing past its last row).
    void row(index_t s, index_t p) const noexcept {
#if defined(__SSE__)
        constexpr index_t row_bytes = gemm_blocking::nr * index_t{sizeof(stored_element_t<W>)};
        if (W != weight_type::f32 && p < kc_) {
            const std::byte* line = next_ + (s * kc_ + p) * row_bytes;
            for (index_t i = 0; i < row_bytes; i += 64) {
                _mm_prefetch(reinterpret_cast<const char*>(line + i), _MM_HINT_T1);
            }
        }
#else
        (void)s;
        (void)p;
#endif
    }

private:
    const std::byte* next_;
    index_t kc_;
};

/// The one-row product over slivers `[s0, s0 + S)`: each lane of each sliver is the
/// micro-kernel's chain for that element, on the weights widened in registers. `S` slivers run
/// together to hide the FMA latency.
template <index_t S, weight_type W>
inline void gemv_packed_slivers(index_t s0, const float* x, const packed_matrix& b, float* y,
                                float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    constexpr index_t nv = blk::nr_registers;
    constexpr index_t nr = blk::nr;
    const index_t k = b.rows();
    const index_t n = b.cols();
    for (index_t pc = 0; pc < k; pc += blk::kc) {
        const index_t kc = std::min(blk::kc, k - pc);
        const bool first = pc == 0;
        const void* pb = b.block<stored_element_t<W>>(pc, s0 * nr);
        fbatch acc[S][nv];
        static_for<S>([&](auto s) { static_for<nv>([&](auto v) { acc[s][v] = fbatch(0.f); }); });
        const next_block_prefetch<W> ahead(b, pc + kc, s0);
        if constexpr (W == weight_type::bf16 && bf16_pairs) {
#if defined(__AVX512F__)
            // A sliver row of bf16 is one register of 32: shifted left, its even columns are
            // floats; masked, its odd ones. Two ALU operations per 32 weights instead of four;
            // the lanes are put back in column order once per block.
            const auto* src = static_cast<const std::uint16_t*>(pb);
            const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
            // Raw intrinsics in a plain unrolled loop: through lambdas and batch wrappers this
            // loop ran at 0.4 of its -O3 speed when built with -O2.
            __m512 a[S][2];
#pragma GCC unroll 4
            for (index_t s = 0; s < S; ++s) {
                a[s][0] = acc[s][0];
                a[s][1] = acc[s][1];
            }
            for (index_t p = 0; p < kc; ++p) {
                const __m512 xv = _mm512_set1_ps(x[pc + p]);
#pragma GCC unroll 4
                for (index_t s = 0; s < S; ++s) {
                    ahead.row(s, p);
                    const __m512i v = _mm512_loadu_si512(src + s * kc * nr + p * nr);
                    a[s][0] =
                        _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), a[s][0]);
                    a[s][1] = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_and_si512(v, high)),
                                              a[s][1]);
                }
            }
#pragma GCC unroll 4
            for (index_t s = 0; s < S; ++s) {
                acc[s][0] = a[s][0];
                acc[s][1] = a[s][1];
            }
            const __m512i lo =
                _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
            const __m512i hi =
                _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
            static_for<S>([&](auto s) {
                const __m512 even = acc[s][0];
                const __m512 odd = acc[s][1];
                acc[s][0] = _mm512_permutex2var_ps(even, lo, odd);
                acc[s][1] = _mm512_permutex2var_ps(even, hi, odd);
            });
#endif
        } else {
            for (index_t p = 0; p < kc; ++p) {
                const fbatch xv(x[pc + p]);
                static_for<S>([&](auto s) {
                    ahead.row(s, p);
                    static_for<nv>([&](auto v) {
                        acc[s][v] = simd::fma(
                            xv, load_packed<W>(pb, s * kc * nr + p * nr + v * lanes), acc[s][v]);
                    });
                });
            }
        }
        static_for<S>([&](auto s) {
            const index_t j0 = (s0 + s) * nr;
            store_sliver_row(acc[s], j0, std::min(nr, n - j0), y, alpha, first, accumulate, bias);
        });
    }
}

#if defined(__AVX2__) && defined(__FMA__)
/// Whether the one-row product reads a matrix stored as `W` in place through
/// `in_place_chain` (8 rows at a time, AVX2 + FMA; F16C for f16).
template <weight_type W>
inline constexpr bool in_place_rows8 =
#if defined(__F16C__)
    true;
#else
    W != weight_type::f16;
#endif

/// Transposes the 8 x 8 floats of `r` in place (row `i` in `r[i]`; afterwards column `c` in
/// `r[c]`): 24 shuffles.
inline __attribute__((always_inline)) void transpose8(__m256 (&r)[8]) noexcept {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]);
    const __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]);
    const __m256 t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]);
    const __m256 t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]);
    const __m256 t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44);
    const __m256 u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44);
    const __m256 u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// A register of 8 pairs of 16-bit elements (`[2q, 2q + 1]` in lane `q`), widened exactly.
template <weight_type W>
inline __attribute__((always_inline)) void widen_pairs8(__m256i v, __m256& even,
                                                        __m256& odd) noexcept {
    if constexpr (W == weight_type::bf16) {
        even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        odd = _mm256_castsi256_ps(
            _mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
    } else {
#if defined(__F16C__)
        const __m256i low = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
        const __m256i high = _mm256_srli_epi32(v, 16);
        // Values below 2^16 pack without saturating.
        even = _mm256_cvtph_ps(
            _mm_packus_epi32(_mm256_castsi256_si128(low), _mm256_extracti128_si256(low, 1)));
        odd = _mm256_cvtph_ps(
            _mm_packus_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1)));
#else
        even = odd = _mm256_setzero_ps(); // not reached: in_place_rows8<f16> is false
        (void)v;
#endif
    }
}

/// Loads 8 rows' next 32 bytes (8 f32 or 16 bf16/f16 elements), row `i` at `src + i ld`.
template <class E>
inline __attribute__((always_inline)) void load_rows8(const E* src, index_t ld,
                                                      __m256 (&r)[8]) noexcept {
#pragma GCC unroll 8
    for (index_t i = 0; i < 8; ++i) {
        r[i] =
            _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i * ld)));
    }
}

/**
 * @brief Consumes one transposed step: lane `q` of `r[q]` is element `q` (f32) or the pair
 *        `2q`, `2q + 1` (bf16, f16) of each of 8 rows; the first `count` elements go into the
 *        chain `acc`, in order, against `x[0..count)`.
 */
template <weight_type W, bool Whole>
inline __attribute__((always_inline)) void consume8(__m256 (&r)[8], const float* x, index_t count,
                                                    __m256& acc) noexcept {
    transpose8(r);
    if constexpr (W == weight_type::f32) {
#pragma GCC unroll 8
        for (index_t q = 0; q < 8; ++q) {
            if (Whole || q < count) {
                acc = _mm256_fmadd_ps(_mm256_broadcast_ss(x + q), r[q], acc);
            }
        }
    } else {
#pragma GCC unroll 8
        for (index_t q = 0; q < 8; ++q) {
            if (Whole || 2 * q < count) {
                __m256 even;
                __m256 odd;
                widen_pairs8<W>(_mm256_castps_si256(r[q]), even, odd);
                acc = _mm256_fmadd_ps(_mm256_broadcast_ss(x + 2 * q), even, acc);
                if (Whole || 2 * q + 1 < count) {
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(x + 2 * q + 1), odd, acc);
                }
            }
        }
    }
}

/**
 * @brief One k block's chains for 8 columns of a matrix read in place: rows `rows + i ld`
 *        (`i < 8`) of `B[n, k]` from element `pc`, 8 (f32) or 16 (bf16, f16) elements at a
 *        time transposed in registers, so that lane `i` runs column `i`'s chain over the block
 *        in order, as the micro-kernel does on the packed sliver. `x` is the block's part of
 *        the row; `next` (nullable) the next 8 rows, whose lines at the same offsets are
 *        prefetched into L2 as these are read, so that their streams start warm (without it,
 *        rows of 768 to 2048 elements streamed at 0.5-0.9 of the packed product's bandwidth;
 *        with it, 0.75-1.2).
 *
 * Eight rows, one chain: sixteen rows (two chains, or one 512-bit chain) read a cache line at
 * a time, and the same eight rows at two k blocks, both streamed from memory at about half the
 * bandwidth (too many streams for the prefetchers), which costs more than the FMA latency that
 * one chain leaves exposed.
 */
template <weight_type W>
inline __m256 in_place_chain(const void* rows, index_t ld, index_t pc, index_t kc, const float* x,
                             const void* next) noexcept {
    using E = stored_element_t<W>;
    constexpr index_t step = W == weight_type::f32 ? 8 : 16;
    const E* src = static_cast<const E*>(rows) + pc;
    const E* ahead = next != nullptr ? static_cast<const E*>(next) + pc : nullptr;
    __m256 acc = _mm256_setzero_ps();
    index_t p = 0;
    for (; p + step <= kc; p += step) {
        __m256 r[8];
        load_rows8(src + p, ld, r);
        if (ahead != nullptr && p % (2 * step) == 0) {
            // The next 8 rows' line at the same offset, into L2: their streams start warm.
#pragma GCC unroll 8
            for (index_t i = 0; i < 8; ++i) {
                _mm_prefetch(reinterpret_cast<const char*>(ahead + i * ld + p), _MM_HINT_T1);
            }
        }
        consume8<W, true>(r, x + p, step, acc);
    }
    if (p < kc) {
        // The block's last elements, copied out (no read past a row, the file, the mapping).
        const index_t tail = kc - p;
        alignas(32) E buf[8][step];
        for (index_t i = 0; i < 8; ++i) {
            for (index_t e = 0; e < step; ++e) {
                buf[i][e] = e < tail ? src[i * ld + p + e] : E{0};
            }
        }
        __m256 r[8];
        load_rows8(&buf[0][0], step, r);
        consume8<W, false>(r, x + p, tail, acc);
    }
    return acc;
}
#endif

#if defined(__AVX512F__)
/**
 * @brief One k block's chain for 16 columns of a matrix of 16-bit elements read in place: rows
 *        `rows + i ld` (`i < 16`) of `B[n, k]` from element `pc`, a line (32 elements) of each
 *        at a time, transposed 16 x 16 as element pairs in registers, so that lane `i` runs
 *        column `i`'s chain over the block in order. `next` (nullable): the next 16 rows, whose
 *        lines at the same offsets are prefetched into L2.
 *
 * The 8-row chain of `in_place_chain` is bound by its FMA latency on 16-bit rows (16 FMAs per
 * 32 bytes of each row, one chain): llama-1.1b bf16 in place decoded at 9.3 tokens/s on 2
 * threads, 12.4 through this one. Two such chains (32 rows, or 16 rows at two k blocks) read
 * more streams at once and ran slower (11.1, 11.6).
 */
template <weight_type W>
inline __m512 in_place_chain16(const std::uint16_t* rows, index_t ld, index_t pc, index_t kc,
                               const float* x, const std::uint16_t* next) noexcept {
    const std::uint16_t* src = rows + pc;
    const std::uint16_t* ahead = next != nullptr ? next + pc : nullptr;
    __m512 acc = _mm512_setzero_ps();
    __m512 r[16];
    const auto consume = [&](index_t count, const float* xs) __attribute__((always_inline)) {
        simd::transpose_registers(r);
#pragma GCC unroll 16
        for (index_t q = 0; q < 16; ++q) {
            if (2 * q < count) {
                __m512 even;
                __m512 odd;
                widen_pairs<W>(_mm512_castps_si512(r[q]), even, odd);
                acc = _mm512_fmadd_ps(_mm512_set1_ps(xs[2 * q]), even, acc);
                if (2 * q + 1 < count) {
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(xs[2 * q + 1]), odd, acc);
                }
            }
        }
    };
    index_t p = 0;
    for (; p + 32 <= kc; p += 32) {
#pragma GCC unroll 16
        for (index_t i = 0; i < 16; ++i) {
            r[i] = _mm512_castsi512_ps(_mm512_loadu_si512(src + i * ld + p));
        }
        if (ahead != nullptr) {
#pragma GCC unroll 16
            for (index_t i = 0; i < 16; ++i) {
                _mm_prefetch(reinterpret_cast<const char*>(ahead + i * ld + p), _MM_HINT_T1);
            }
        }
        consume(32, x + p);
    }
    if (p < kc) {
        // The block's last elements, copied out (no read past a row, the file, the mapping).
        const index_t tail = kc - p;
        alignas(64) std::uint16_t buf[16][32];
        for (index_t i = 0; i < 16; ++i) {
            for (index_t e = 0; e < 32; ++e) {
                buf[i][e] = e < tail ? src[i * ld + p + e] : std::uint16_t{0};
            }
        }
        for (index_t i = 0; i < 16; ++i) {
            r[i] = _mm512_castsi512_ps(_mm512_load_si512(&buf[i][0]));
        }
        consume(tail, x + p);
    }
    return acc;
}
#endif

/**
 * @brief The one-row product over sliver `s` (columns `[s nr, s nr + nr)`) of a matrix read in
 *        place from `[n, k]` rows: the chains of `gemv_packed_slivers`, element for element, on
 *        the rows transposed in registers (AVX2), or on the sliver packed into an L1 buffer per
 *        k block (other targets, and a last partial sliver).
 */
template <weight_type W>
inline void gemv_in_place_sliver(index_t s, const float* x, const packed_matrix& b, float* y,
                                 float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    constexpr index_t nv = blk::nr_registers;
    constexpr index_t nr = blk::nr;
    const index_t k = b.rows();
    const index_t j0 = s * nr;
    const index_t cols = std::min(nr, b.cols() - j0);
#if defined(__AVX512F__)
    if constexpr (W != weight_type::f32) {
        if (cols == nr && nr % 16 == 0) {
            const __m512 alpha_v = _mm512_set1_ps(alpha);
            for (index_t j = j0; j < j0 + nr; j += 16) {
                // The next 16 rows' lines are prefetched into L2 as these are read.
                const std::uint16_t* next =
                    j + 32 <= b.cols() ? b.row<std::uint16_t>(j + 16) : nullptr;
                for (index_t pc = 0; pc < k; pc += blk::kc) {
                    const __m512 acc = in_place_chain16<W>(b.row<std::uint16_t>(j), k, pc,
                                                           std::min(blk::kc, k - pc), x + pc, next);
                    const bool first = pc == 0;
                    const __m512 bv =
                        first && bias != nullptr ? _mm512_loadu_ps(bias + j) : _mm512_setzero_ps();
                    const __m512 init =
                        (!first || accumulate) ? _mm512_add_ps(_mm512_loadu_ps(y + j), bv) : bv;
                    _mm512_storeu_ps(y + j, _mm512_fmadd_ps(alpha_v, acc, init));
                }
            }
            return;
        }
    }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    if (in_place_rows8<W> && cols == nr && nr % 8 == 0) {
        // 8 columns at a time over the whole of k: each of their rows streams from start to
        // end.
        using E = stored_element_t<W>;
        const __m256 alpha_v = _mm256_set1_ps(alpha);
        for (index_t j = j0; j < j0 + nr; j += 8) {
            const void* next = j + 16 <= b.cols() ? b.row<E>(j + 8) : nullptr;
            for (index_t pc = 0; pc < k; pc += blk::kc) {
                const __m256 acc =
                    in_place_chain<W>(b.row<E>(j), k, pc, std::min(blk::kc, k - pc), x + pc, next);
                // The epilogue of `store_sliver_row`, on 8 lanes.
                const bool first = pc == 0;
                const __m256 bv =
                    first && bias != nullptr ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
                const __m256 init =
                    (!first || accumulate) ? _mm256_add_ps(_mm256_loadu_ps(y + j), bv) : bv;
                _mm256_storeu_ps(y + j, _mm256_fmadd_ps(alpha_v, acc, init));
            }
        }
        return;
    }
#endif
    float* buf = nullptr;
    for (index_t pc = 0; pc < k; pc += blk::kc) {
        const index_t kc = std::min(blk::kc, k - pc);
        fbatch acc[nv];
        if (buf == nullptr) {
            buf = sliver_workspace().reserve(blk::kc * nr);
        }
        b.widen_sliver(pc, j0, buf);
        static_for<nv>([&](auto v) { acc[v] = fbatch(0.f); });
        for (index_t p = 0; p < kc; ++p) {
            const fbatch xv(x[pc + p]);
            static_for<nv>([&](auto v) {
                acc[v] = simd::fma(xv, fbatch::load_aligned(buf + p * nr + v * lanes), acc[v]);
            });
        }
        store_sliver_row(acc, j0, cols, y, alpha, pc == 0, accumulate, bias);
    }
}

/// One register of `[k, n]` row elements stored as `W`, widened (unaligned).
template <weight_type W>
inline fbatch load_row_elements(const stored_element_t<W>* src) noexcept {
    if constexpr (W == weight_type::f32) {
        return fbatch::load_unaligned(src);
    } else if constexpr (W == weight_type::bf16) {
        return simd::widen_bf16(src);
    } else {
        return simd::widen_f16(src);
    }
}

/// `R` consecutive rows' steps of the chains of one register of columns: `acc = fma(x[r],
/// w[r], acc)` for `r` in order (`x`: the rows' activations, broadcast), `w` read `ld` elements
/// apart (`tail`: only its first `tail` columns are read, the rest zero, as in a zero-padded
/// sliver).
template <index_t R, weight_type W>
inline __attribute__((always_inline)) fbatch k_rows_steps(fbatch acc, const fbatch* x,
                                                          const stored_element_t<W>* w, index_t ld,
                                                          index_t tail) noexcept {
    for (index_t r = 0; r < R; ++r) {
        fbatch wv;
        if (tail == 0) {
            wv = load_row_elements<W>(w + r * ld);
        } else {
            alignas(64) float t[lanes] = {};
            for (index_t c = 0; c < tail; ++c) {
                t[c] = widen_one<W>(w + r * ld, c);
            }
            wv = fbatch::load_aligned(t);
        }
        acc = simd::fma(x[r], wv, acc);
    }
    return acc;
}

/**
 * @brief The one-row product over slivers `[s0, s1)` of `[k, n]` rows read in place (GPT-2's
 *        `[in, out]` weights): each row's share of the band streams whole, left to right.
 *
 * The band's accumulators live in an L1 buffer, so a row is read as one run of bytes (a
 * sliver group at a time would read a few hundred bytes per row, `n` apart: 0.7x the packed
 * product from L3, 0.4x from memory). Four rows per pass over the buffer, their activations
 * broadcast once: 0.96-1.04x the packed product from memory, 0.8-1.0x from L2 (f32, 1 thread;
 * eight rows per pass were slower). Each column is still the micro-kernel's chain, row by row
 * within each k block, and the epilogue is `store_sliver_row`'s per sliver: the packed
 * product's bits.
 */
template <weight_type W>
inline void gemv_k_rows(index_t s0, index_t s1, const float* x, const packed_matrix& b, float* y,
                        float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    using E = stored_element_t<W>;
    constexpr index_t nv = blk::nr_registers;
    constexpr index_t nr = blk::nr;
    constexpr index_t unroll = 4; // rows per pass over the accumulators
    const index_t k = b.rows();
    const index_t n = b.cols();
    const index_t j0 = s0 * nr;
    const index_t width = std::min(n, s1 * nr) - j0;
    const index_t whole = width / lanes * lanes; // columns read a register at a time
    float* acc = sliver_workspace().reserve((s1 - s0) * nr);
    for (index_t pc = 0; pc < k; pc += blk::kc) {
        const index_t kc = std::min(blk::kc, k - pc);
        std::fill_n(acc, (s1 - s0) * nr, 0.f);
        const E* rows = b.k_row<E>(pc) + j0;
        const float* xp = x + pc;
        index_t p = 0;
        const auto pass = [&]<index_t R>(std::integral_constant<index_t, R>) {
            const E* w = rows + p * n;
            fbatch xs[R]; // broadcast once per pass: `acc` may alias `x` for the compiler
            for (index_t r = 0; r < R; ++r) {
                xs[r] = fbatch(xp[p + r]);
            }
            for (index_t c = 0; c < whole; c += lanes) {
                const fbatch a = fbatch::load_aligned(acc + c);
                k_rows_steps<R, W>(a, xs, w + c, n, 0).store_aligned(acc + c);
            }
            if (whole < width) {
                const fbatch a = fbatch::load_aligned(acc + whole);
                k_rows_steps<R, W>(a, xs, w + whole, n, width - whole).store_aligned(acc + whole);
            }
            p += R;
        };
        while (p + unroll <= kc) {
            pass(std::integral_constant<index_t, unroll>{});
        }
        while (p < kc) {
            pass(std::integral_constant<index_t, 1>{});
        }
        for (index_t s = s0; s < s1; ++s) {
            fbatch r[nv];
            static_for<nv>(
                [&](auto v) { r[v] = fbatch::load_aligned(acc + (s - s0) * nr + v * lanes); });
            store_sliver_row(r, s * nr, std::min(nr, n - s * nr), y, alpha, pc == 0, accumulate,
                             bias);
        }
    }
}

/// The int8 slivers of columns `[j, ...)` in the k block starting at `pc`.
inline q8_block int8_block_at(const packed_matrix& b, index_t pc, index_t j) noexcept {
    const index_t kq = b.block_k(pc);
    return {b.block<std::int8_t>(pc, j), kq * gemm_blocking::nr, b.scales(pc / q8_group, j),
            b.scale_stride(), kq / q8_group};
}

/**
 * @brief `R` rows' chains over one k block for slivers `[0, S)` of `q`, on the widest kernel
 *        the target has (VNNI, AVX2, plain loops: the same bits): `acc[r][s]` holds row `r`'s
 *        registers of sliver `s`. Rows `i` of `a` from `i0`, from the block at `pc`. `next`
 *        (nullable, VNNI only) is the same slivers' next k block, prefetched into L2.
 */
template <index_t R, index_t S>
inline void q8_chains(const q8_block& q, const q8_rows& a, index_t i0, index_t pc,
                      fbatch (&acc)[R][S][gemm_blocking::nr_registers],
                      const q8_block* next = nullptr) {
    constexpr index_t nv = gemm_blocking::nr_registers;
    constexpr index_t nr = gemm_blocking::nr;
    const std::int8_t* xs[R];
    const float* ds[R];
    for (index_t r = 0; r < R; ++r) {
        xs[r] = a.values(i0 + r) + pc;
        ds[r] = a.scales(i0 + r) + pc / q8_group;
    }
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    if constexpr (nr == 32 && nv == 2 && lanes == 16) {
        const std::int32_t* os[R];
        for (index_t r = 0; r < R; ++r) {
            os[r] = a.offsets(i0 + r) + pc / q8_group;
        }
        __m512 v[R][S][2];
        q8_chains_vnni<R, S>(q, 0, xs, ds, os, v, next != nullptr ? next->weights : nullptr,
                             next != nullptr ? next->sliver_bytes : 0);
        for (index_t r = 0; r < R; ++r) {
            for (index_t s = 0; s < S; ++s) {
                acc[r][s][0] = v[r][s][0];
                acc[r][s][1] = v[r][s][1];
            }
        }
        return;
    }
#endif
    (void)next;
    for (index_t s = 0; s < S; ++s) {
        alignas(64) float chains[R][nr];
#if defined(__AVX2__) && defined(__FMA__)
        q8_chains_avx2<R, nr>(q, s, xs, ds, chains);
#else
        for (index_t r = 0; r < R; ++r) {
            q8_sliver_chains<nr>(q, s, xs[r], ds[r], chains[r]);
        }
#endif
        for (index_t r = 0; r < R; ++r) {
            static_for<nv>(
                [&](auto v) { acc[r][s][v] = fbatch::load_aligned(chains[r] + v * lanes); });
        }
    }
}

/// The int8 one-row product (the one row of the quantised `x`) over slivers `[s0, s0 + S)`.
template <index_t S>
inline void gemv_q8_slivers(index_t s0, const q8_rows& x, const packed_matrix& b, float* y,
                            float alpha, bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    constexpr index_t nr = blk::nr;
    const index_t k = b.rows();
    const index_t n = b.cols();
    for (index_t pc = 0; pc < k; pc += blk::kc) {
        // The same slivers' next k block goes into L2 as this one is read: one thread's
        // stream of 32 KiB runs with a gap at each block otherwise.
        const q8_block q = int8_block_at(b, pc, s0 * nr);
        const bool more = pc + blk::kc < k;
        const q8_block after = more ? int8_block_at(b, pc + blk::kc, s0 * nr) : q;
        fbatch acc[1][S][blk::nr_registers];
        q8_chains<1, S>(q, x, 0, pc, acc, more ? &after : nullptr);
        static_for<S>([&](auto s) {
            const index_t j0 = (s0 + s) * nr;
            store_sliver_row(acc[0][s], j0, std::min(nr, n - j0), y, alpha, pc == 0, accumulate,
                             bias);
        });
    }
}

/// One thread's share of an int8 `gemm_packed`: rows `[row0, row0 + m)` of the quantised `a`,
/// columns `[j0, j0 + nn)`, each sliver's k block read once from memory for all the rows.
inline void gemm_q8_serial(index_t m, index_t j0, index_t nn, const q8_rows& a, index_t row0,
                           const packed_matrix& b, float* c, index_t ldc, float alpha,
                           bool accumulate, const float* bias) {
    using blk = gemm_blocking;
    constexpr index_t nr = blk::nr;
    constexpr index_t nv = blk::nr_registers;
    // Six rows per VNNI tile (24 accumulators), two on AVX2 (16 registers).
    constexpr index_t rows = q8_vnni && nr == 32 && nv == 2 && lanes == 16 ? 6 : 2;
    const index_t k = b.rows();
    for (index_t jc = j0; jc < j0 + nn; jc += blk::nc) {
        const index_t nc = std::min(blk::nc, j0 + nn - jc);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            for (index_t jr = 0; jr < nc; jr += nr) {
                const q8_block q = int8_block_at(b, pc, jc + jr);
                const auto tile = [&]<index_t R>(std::integral_constant<index_t, R>, index_t i) {
                    fbatch acc[R][1][nv];
                    q8_chains<R, 1>(q, a, row0 + i, pc, acc);
                    for (index_t r = 0; r < R; ++r) {
                        store_sliver_row(acc[r][0], jc + jr, std::min(nr, nc - jr),
                                         c + (i + r) * ldc, alpha, pc == 0, accumulate, bias);
                    }
                };
                index_t i = 0;
                for (; i + rows <= m; i += rows) {
                    tile(std::integral_constant<index_t, rows>{}, i);
                }
                for (; i < m; ++i) {
                    tile(std::integral_constant<index_t, 1>{}, i);
                }
            }
        }
    }
}

/// Runs `f(std::integral_constant<weight_type, W>)` for the matrix's storage type.
template <class F>
inline void with_weight_type(weight_type w, F&& f) {
    switch (w) {
    case weight_type::f32:
        f(std::integral_constant<weight_type, weight_type::f32>{});
        return;
    case weight_type::bf16:
        f(std::integral_constant<weight_type, weight_type::bf16>{});
        return;
    case weight_type::f16:
        f(std::integral_constant<weight_type, weight_type::f16>{});
        return;
    case weight_type::int8:
        f(std::integral_constant<weight_type, weight_type::int8>{});
        return;
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
    const bool widen = b.type() != weight_type::f32 || b.in_place(); // int8: gemm_q8_serial
    float* wide = widen ? sliver_workspace().reserve(blk::kc * blk::nr) : nullptr;
    for (index_t jc = j0; jc < j0 + nn; jc += blk::nc) {
        const index_t nc = std::min(blk::nc, j0 + nn - jc);
        for (index_t pc = 0; pc < k; pc += blk::kc) {
            const index_t kc = std::min(blk::kc, k - pc);
            const bool first = pc == 0;
            for (index_t ic = 0; ic < m; ic += blk::mc) {
                const index_t mc = std::min(blk::mc, m - ic);
                pack_a(mc, kc, a + ic * lda + pc, lda, pa);
                for (index_t jr = 0; jr < nc; jr += blk::nr) {
                    const index_t cols = std::min(blk::nr, nc - jr);
                    const float* pb = b.block(pc, jc + jr);
                    if (widen) {
                        b.widen_sliver(pc, jc + jr, wide);
                        pb = wide;
                    }
                    const tile_epilogue epi{alpha, !first || accumulate,
                                            first && bias != nullptr ? bias + jc + jr : nullptr};
                    for (index_t ir = 0; ir < mc; ir += blk::mr) {
                        const index_t rows = std::min(blk::mr, mc - ir);
                        float* c_tile = c + (ic + ir) * ldc + jc + jr;
                        if (rows == blk::mr) {
                            micro_kernel<blk::mr>(kc, pa + ir * blk::kc, pb, c_tile, ldc, rows,
                                                  cols, epi);
                        } else {
                            micro_kernel_short(kc, pa + ir * blk::kc, pb, c_tile, ldc, rows, cols,
                                               epi);
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
 *        in place (widened in registers), bit-identical to the same row through `gemm_packed`.
 */
inline void gemv_packed(const float* x, const packed_matrix& b, float* y, float alpha = 1.f,
                        bool accumulate = false, const float* bias = nullptr) {
    constexpr index_t nr = detail::gemm_blocking::nr;
    const index_t slivers = (b.cols() + nr - 1) / nr;
    // A second thread pays from 2^16 weights (256 KiB in f32): a parallel region costs a few
    // microseconds on an idle machine, and kjv_gpt2 (256 x 768 to 1024 x 256 products, all in
    // the caches) decodes 1.4x faster on 2 threads than on 1 from there, where a threshold of
    // 2^19 (past the L2) gained nothing. The price: on a machine whose other core is busy, the
    // region waits for it (kjv_gpt2 then falls below its 1-thread speed; see
    // docs/benchmarks.md). Counted in weights, not bytes: a reduced type reads fewer bytes but
    // widens each weight, so its time per weight stays near f32's.
    const int threads = b.rows() * b.cols() >= (index_t{1} << 16) ? simd::max_threads() : 1;
    // Slivers per task: 4 (8 accumulator chains in registers), or for `[k, n]` rows read in
    // place one band per thread of up to 128 (4096 columns: 16 KiB of accumulators in L1, and
    // rows read 16 KiB at a time; bands of 16 slivers read 0.8x as fast from memory).
    const bool k_rows = b.in_place() && b.layout() == transpose::no;
    const index_t group =
        k_rows ? std::min<index_t>(128, (slivers + threads - 1) / threads) : index_t{4};
    const index_t tasks = (slivers + group - 1) / group;
    // int8: the row quantised once, on the calling thread, read by every task.
    detail::q8_rows* xq = nullptr;
    if (b.type() == weight_type::int8) {
        xq = &detail::q8_workspace();
        xq->quantise(1, x, b.rows(), b.rows());
    }
    detail::with_weight_type(b.type(), [&](auto w) {
        constexpr weight_type W = decltype(w)::value;
        const auto run = [&](index_t t) {
            index_t s = t * group;
            const index_t end = std::min(slivers, s + group);
            if constexpr (W == weight_type::int8) {
                for (; s + 4 <= end; s += 4) {
                    detail::gemv_q8_slivers<4>(s, *xq, b, y, alpha, accumulate, bias);
                }
                for (; s < end; ++s) {
                    detail::gemv_q8_slivers<1>(s, *xq, b, y, alpha, accumulate, bias);
                }
                return;
            } else {
                if (k_rows) {
                    detail::gemv_k_rows<W>(s, end, x, b, y, alpha, accumulate, bias);
                    return;
                }
                if (b.in_place()) {
                    for (; s < end; ++s) {
                        detail::gemv_in_place_sliver<W>(s, x, b, y, alpha, accumulate, bias);
                    }
                    return;
                }
                for (; s + 4 <= end; s += 4) {
                    detail::gemv_packed_slivers<4, W>(s, x, b, y, alpha, accumulate, bias);
                }
                for (; s < end; ++s) {
                    detail::gemv_packed_slivers<1, W>(s, x, b, y, alpha, accumulate, bias);
                }
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
    });
}

/**
 * @brief `C[m, n] = alpha * A[m, k] op(B) + bias (+ C)` with `op(B)` packed once. Rows go
 *        through the one-row path for `m == 1`, the packed loop nest otherwise; either way
 *        every row's result is the same (see the file comment).
 */
inline void gemm_packed(index_t m, const float* a, index_t lda, const packed_matrix& b, float* c,
                        index_t ldc, float alpha = 1.f, bool accumulate = false,
                        const float* bias = nullptr) {
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
    if (b.type() == weight_type::int8) {
        // The rows quantised once, on the calling thread; the threads share them.
        detail::q8_rows& qa = detail::q8_workspace();
        qa.quantise(m, a, lda, k);
        detail::split_gemm(m, n, k, [&](index_t i0, index_t mm, index_t j0, index_t nn) {
            detail::gemm_q8_serial(mm, j0, nn, qa, i0, b, c + i0 * ldc, ldc, alpha, accumulate,
                                   bias);
        });
        return;
    }
    detail::split_gemm(m, n, k, [&](index_t i0, index_t mm, index_t j0, index_t nn) {
        detail::gemm_packed_serial(mm, j0, nn, a + i0 * lda, lda, b, c + i0 * ldc, ldc, alpha,
                                   accumulate, bias);
    });
}

} // namespace ctt::kernels
