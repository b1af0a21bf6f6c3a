#pragma once
/**
 * @file
 * @brief Bit-exact conversions between `float` and the two 16-bit float formats found in
 *        checkpoints: IEEE 754 binary16 ("F16") and bfloat16 ("BF16").
 *
 * Widening (16 -> 32 bits) is exact for every input, subnormals, infinities and NaN payloads
 * included. Narrowing rounds to nearest, ties to even, as IEEE 754-2008 section 4.3.1 and
 * PyTorch's `.half()` / `.bfloat16()` do; NaNs stay NaNs (quiet) with the sign kept.
 */

#include <bit>
#include <cstdint>

namespace ctt {

/**
 * @brief Widens an IEEE binary16 bit pattern (1 sign, 5 exponent, 10 mantissa bits) to float.
 */
[[nodiscard]] constexpr float fp16_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24 is exact in float (at most 10 significant bits).
        const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
        return sign != 0 ? -magnitude : magnitude;
    }
    if (exponent == 0x1f) {
        // Infinity (mantissa 0) or NaN, whose payload moves to the top of float's mantissa.
        return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    }
    // Normal: rebias the exponent from 15 to 127.
    return std::bit_cast<float>(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13));
}

/**
 * @brief Narrows a float to the nearest IEEE binary16 (ties to even); values beyond the largest
 *        finite half (65504, rounding boundary 65520) become infinity.
 */
[[nodiscard]] constexpr std::uint16_t float_to_fp16(float f) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) { // NaN: keep the high payload bits, force quiet.
        return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
    }
    if (magnitude >= 0x477ff000u) { // >= 65520 (or infinity) rounds to infinity.
        return static_cast<std::uint16_t>(sign | 0x7c00u);
    }
    const std::uint32_t exponent = magnitude >> 23;
    if (exponent < 113) {
        // Result is a half subnormal (or zero): count units of 2^-24. A float subnormal is far
        // below half a unit and rounds to zero.
        if (exponent < 102) {
            return sign;
        }
        const std::uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
        const std::uint32_t shift = 126 - exponent; // 14 .. 24
        std::uint32_t units = significand >> shift;
        const std::uint32_t rest = significand & ((1u << shift) - 1);
        const std::uint32_t half_unit = 1u << (shift - 1);
        if (rest > half_unit || (rest == half_unit && (units & 1u) != 0)) {
            ++units; // may carry into the smallest normal, which has the right bit pattern
        }
        return static_cast<std::uint16_t>(sign | units);
    }
    std::uint32_t h = ((exponent - 112) << 10) | ((magnitude >> 13) & 0x3ffu);
    const std::uint32_t rest = magnitude & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0)) {
        ++h; // a carry out of the mantissa correctly bumps the exponent
    }
    return static_cast<std::uint16_t>(sign | h);
}

/**
 * @brief Widens a bfloat16 bit pattern (the top half of a float) to float; exact.
 */
[[nodiscard]] constexpr float bf16_to_float(std::uint16_t b) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/**
 * @brief Narrows a float to the nearest bfloat16 (ties to even); NaN stays a quiet NaN.
 */
[[nodiscard]] constexpr std::uint16_t float_to_bf16(float f) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
    }
    // Adding 0x7fff plus the lowest kept bit rounds half to even; overflow reaches infinity.
    const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>(rounded >> 16);
}

} // namespace ctt
