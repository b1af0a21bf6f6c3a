#pragma once
/**
 * @file
 * @brief `weight_type`: how a model stores its projection weights once loaded. Activations,
 *        norms, softmax and accumulation stay `float` whatever the choice.
 */

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ctt {

/// The storage of packed projection weights (`kernels::packed_matrix`).
enum class weight_type : std::uint8_t {
    f32,  ///< IEEE single precision: the checkpoint's values as read
    bf16, ///< bfloat16, rounded to nearest even (exact for a bf16 checkpoint)
    f16,  ///< IEEE binary16, rounded to nearest even (exact for an f16 checkpoint)
    int8, ///< symmetric int8, one `float` scale per block of 32 along k (llama.cpp's Q8_0 scheme)
};

/// The name `--weights` and `ctt_add_hf_model(... WEIGHTS ...)` use: `f32`, `bf16`, `f16`, `int8`.
[[nodiscard]] constexpr std::string_view to_string(weight_type w) noexcept {
    switch (w) {
    case weight_type::f32:
        return "f32";
    case weight_type::bf16:
        return "bf16";
    case weight_type::f16:
        return "f16";
    case weight_type::int8:
        return "int8";
    }
    return "?";
}

/// The weight type named `name` (see `to_string`), or nothing.
[[nodiscard]] constexpr std::optional<weight_type>
parse_weight_type(std::string_view name) noexcept {
    for (const auto w :
         {weight_type::f32, weight_type::bf16, weight_type::f16, weight_type::int8}) {
        if (name == to_string(w)) {
            return w;
        }
    }
    return std::nullopt;
}

/// Bytes per stored element, scales of `int8` excluded.
[[nodiscard]] constexpr std::size_t element_bytes(weight_type w) noexcept {
    switch (w) {
    case weight_type::f32:
        return 4;
    case weight_type::bf16:
    case weight_type::f16:
        return 2;
    case weight_type::int8:
        return 1;
    }
    return 4;
}

/// The k extent of one `int8` block, which shares one scale per column.
inline constexpr std::size_t int8_block = 32;

namespace detail {
/// `Config::weight_storage` when the configuration names one, else `f32`.
template <class Config>
[[nodiscard]] constexpr weight_type config_weights() noexcept {
    if constexpr (requires { Config::weight_storage; }) {
        return static_cast<weight_type>(Config::weight_storage);
    } else {
        return weight_type::f32;
    }
}

/// `Config::kv_cache_storage` when the configuration names one (`f32`, `bf16` or `f16`), else
/// `f32`: how a decoder's sessions hold keys and values.
template <class Config>
[[nodiscard]] constexpr weight_type config_kv_cache() noexcept {
    if constexpr (requires { Config::kv_cache_storage; }) {
        return static_cast<weight_type>(Config::kv_cache_storage);
    } else {
        return weight_type::f32;
    }
}
} // namespace detail

} // namespace ctt
