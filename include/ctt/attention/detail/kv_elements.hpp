#pragma once
/**
 * @file
 * @brief How the attention kernels read keys and values stored as `float`, bfloat16 or IEEE
 *        binary16: the element type of a `kv_cache`, its rounding on append and its exact
 *        widening in registers.
 *
 * Widening is exact, so a kernel reading a reduced cache computes, bit for bit, what the same
 * kernel computes on `float` copies of the rounded keys and values. The tests rely on that.
 */

#include <cstdint>
#include <cstring>

#include "ctt/core/shape.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/io/half.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/widen.hpp"

namespace ctt::detail {

/// What a kernel needs of one key/value element type `E` (`f32`, `bf16` or `f16`).
template <weight_type E>
struct kv_element;

template <>
struct kv_element<weight_type::f32> {
    using storage = float;
    [[nodiscard]] static float widen(float x) noexcept { return x; }
    [[nodiscard]] static float narrow(float x) noexcept { return x; }
    [[nodiscard]] static simd::batch<float> load(const float* p) noexcept { return simd::load(p); }
};

template <>
struct kv_element<weight_type::bf16> {
    using storage = std::uint16_t;
    [[nodiscard]] static float widen(std::uint16_t x) noexcept { return bf16_to_float(x); }
    [[nodiscard]] static std::uint16_t narrow(float x) noexcept { return float_to_bf16(x); }
    [[nodiscard]] static simd::batch<float> load(const std::uint16_t* p) noexcept {
        return simd::widen_bf16(p);
    }
};

template <>
struct kv_element<weight_type::f16> {
    using storage = std::uint16_t;
    [[nodiscard]] static float widen(std::uint16_t x) noexcept { return fp16_to_float(x); }
    [[nodiscard]] static std::uint16_t narrow(float x) noexcept { return float_to_fp16(x); }
    [[nodiscard]] static simd::batch<float> load(const std::uint16_t* p) noexcept {
        return simd::widen_f16(p);
    }
};

/// True for the element types a KV cache may hold.
template <weight_type E>
inline constexpr bool is_kv_element_v =
    E == weight_type::f32 || E == weight_type::bf16 || E == weight_type::f16;

template <weight_type E>
using kv_storage_t = typename kv_element<E>::storage;

/// The first `lanes` (< one register) elements of `p` widened, the other lanes 0.
template <weight_type E>
[[nodiscard]] inline simd::batch<float> kv_load_n(const kv_storage_t<E>* p,
                                                  index_t lanes) noexcept {
    if constexpr (E == weight_type::f32) {
        return simd::load_n(p, lanes);
    } else {
        if (lanes == simd::width<float>) {
            return kv_element<E>::load(p);
        }
        alignas(64) float buf[simd::width<float>] = {};
        for (index_t i = 0; i < lanes; ++i) {
            buf[i] = kv_element<E>::widen(p[i]);
        }
        return simd::batch<float>::load_aligned(buf);
    }
}

/// `dst[0..n) = widen(src[0..n))`.
template <weight_type E>
inline void kv_widen_row(const kv_storage_t<E>* src, index_t n, float* dst) noexcept {
    if constexpr (E == weight_type::f32) {
        std::memcpy(dst, src, n * sizeof(float));
    } else {
        constexpr index_t W = simd::width<float>;
        index_t i = 0;
        for (; i + W <= n; i += W) {
            simd::store(dst + i, kv_element<E>::load(src + i));
        }
        for (; i < n; ++i) {
            dst[i] = kv_element<E>::widen(src[i]);
        }
    }
}

/// `dst[0..n) = narrow(src[0..n))`, rounded to nearest even.
template <weight_type E>
inline void kv_narrow_row(const float* src, index_t n, kv_storage_t<E>* dst) noexcept {
    if constexpr (E == weight_type::f32) {
        std::memcpy(dst, src, n * sizeof(float));
    } else {
        for (index_t i = 0; i < n; ++i) {
            dst[i] = kv_element<E>::narrow(src[i]);
        }
    }
}

} // namespace ctt::detail
