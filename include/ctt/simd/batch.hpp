#pragma once
/**
 * @file
 * @brief The thin layer over xsimd: one batch type for the compile target, partial loads and
 *        stores for row tails, horizontal reductions, and a loop helper that handles tails in
 *        one place. Kernels use only this header (and `simd/math.hpp`), never raw intrinsics.
 */

#include <algorithm>
#include <cstddef>
#include <type_traits>

// GCC 12's AVX-512 intrinsics pass `_mm512_undefined_ps()` as a pass-through operand, which
// -Wuninitialized reports once inlined (GCC PR 105593); the warning is about the system header,
// not ctt, so it is silenced for those headers only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace ctt::simd {

/// The widest instruction set the compiler targets (AVX-512 with `-march=native` here).
using arch = xsimd::default_arch;

/// A register of `T` for the target architecture.
template <class T = float>
using batch = xsimd::batch<T, arch>;

/// Lanes in a register of `T`.
template <class T = float>
inline constexpr std::size_t width = batch<T>::size;

/**
 * @brief `x * y + z` with a single rounding. xsimd 8 has no AVX-512 kernel for `xsimd::fma` and
 *        falls back to `x * y + z`, which GCC contracts into an FMA but clang does not.
 */
template <class T>
[[nodiscard]] inline batch<T> fma(const batch<T>& x, const batch<T>& y,
                                  const batch<T>& z) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && width<T> == 16) {
        return _mm512_fmadd_ps(x, y, z);
    } else if constexpr (std::is_same_v<T, double> && width<T> == 8) {
        return _mm512_fmadd_pd(x, y, z);
    } else {
        return xsimd::fma(x, y, z);
    }
#else
    return xsimd::fma(x, y, z);
#endif
}

/// Loads `n < width` elements, zero-filling the remaining lanes.
template <class T>
[[nodiscard]] inline batch<T> load_partial(const T* p, std::size_t n) noexcept {
    alignas(64) T buf[width<T>] = {};
    std::copy_n(p, n, buf);
    return batch<T>::load_aligned(buf);
}

/// Loads `n < width` elements, filling the remaining lanes with `fill`.
template <class T>
[[nodiscard]] inline batch<T> load_partial(const T* p, std::size_t n, T fill) noexcept {
    alignas(64) T buf[width<T>];
    std::fill_n(buf, width<T>, fill);
    std::copy_n(p, n, buf);
    return batch<T>::load_aligned(buf);
}

/// Stores the first `n < width` lanes of `v`.
template <class T>
inline void store_partial(T* p, const batch<T>& v, std::size_t n) noexcept {
    alignas(64) T buf[width<T>];
    v.store_aligned(buf);
    std::copy_n(buf, n, p);
}

template <class T>
[[nodiscard]] inline batch<T> load(const T* p) noexcept {
    return batch<T>::load_unaligned(p);
}

template <class T>
inline void store(T* p, const batch<T>& v) noexcept {
    v.store_unaligned(p);
}

template <class T>
[[nodiscard]] inline T reduce_add(const batch<T>& v) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && width<T> == 16) {
        return _mm512_reduce_add_ps(v);
    }
#endif
    return xsimd::hadd(v); // xsimd 8 names the horizontal sum `hadd`
}

template <class T>
[[nodiscard]] inline T reduce_max(const batch<T>& v) noexcept {
#if defined(__AVX512F__)
    // A shuffle tree in registers; this runs once per score row and key tile in attention.
    if constexpr (std::is_same_v<T, float> && width<T> == 16) {
        return _mm512_reduce_max_ps(v);
    }
#endif
    // xsimd 8 has no horizontal max; the batch is spilled once and scanned.
    alignas(64) T buf[width<T>];
    v.store_aligned(buf);
    T m = buf[0];
    for (std::size_t i = 1; i < width<T>; ++i) {
        m = buf[i] > m ? buf[i] : m;
    }
    return m;
}

/**
 * @brief Runs `body(i, batch_lanes)` over `[0, n)` in steps of one register; the final call
 *        gets `lanes < width` for the tail, so one body handles both with `load_partial`.
 */
template <class T = float, class Body>
inline void for_each_register(std::size_t n, Body&& body) {
    constexpr std::size_t w = width<T>;
    std::size_t i = 0;
    for (; i + w <= n; i += w) {
        body(i, w);
    }
    if (i < n) {
        body(i, n - i);
    }
}

/// Loads a full register or a zero-padded tail, depending on `lanes`.
template <class T>
[[nodiscard]] inline batch<T> load_n(const T* p, std::size_t lanes) noexcept {
    return lanes == width<T> ? load(p) : load_partial(p, lanes);
}

/// Stores a full register or the first `lanes` of it.
template <class T>
inline void store_n(T* p, const batch<T>& v, std::size_t lanes) noexcept {
    if (lanes == width<T>) {
        store(p, v);
    } else {
        store_partial(p, v, lanes);
    }
}

} // namespace ctt::simd
