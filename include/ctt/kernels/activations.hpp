#pragma once
/**
 * @file
 * @brief Activation functions of the feed-forward layers: ReLU, GELU (erf and tanh forms),
 *        QuickGELU and SiLU, applied to rows of tensor views in place or out of place.
 *
 * `ctt::activation` names them so that a model can take its activation as a template parameter
 * (`feed_forward<..., activation::gelu_erf>`) or read it from a Hugging Face `config.json`
 * (`activation_from_hf_name("gelu_new")`). Formulas follow HF transformers' `activations.py`:
 * - `relu`:       max(x, 0)
 * - `gelu_erf`:   x/2 (1 + erf(x / sqrt 2))                          (Hendrycks & Gimpel,
 *                 arXiv:1606.08415; HF "gelu")
 * - `gelu_tanh`:  x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))      (the same paper's
 *                 approximation; HF "gelu_new", "gelu_pytorch_tanh", "gelu_fast", GPT-2)
 * - `quick_gelu`: x sigmoid(1.702 x)                                  (same paper; CLIP)
 * - `silu`:       x sigmoid(x)        (Elfwing et al., arXiv:1702.03118; Ramachandran et al.'s
 *                 "swish", arXiv:1710.05941)
 */

#include <cstddef>
#include <string>
#include <string_view>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/math.hpp"

namespace ctt {

/** @brief The activation functions ctt implements; usable as a template argument. */
enum class activation { relu, gelu_erf, gelu_tanh, quick_gelu, silu };

/**
 * @brief The activation a Hugging Face `hidden_act` / `activation_function` string names.
 *
 * | HF name                                                    | ctt                    |
 * |------------------------------------------------------------|------------------------|
 * | "gelu", "gelu_python"                                      | `activation::gelu_erf` |
 * | "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate" | `activation::gelu_tanh` |
 * | "quick_gelu"                                               | `activation::quick_gelu` |
 * | "relu"                                                     | `activation::relu`     |
 * | "silu", "swish"                                            | `activation::silu`     |
 *
 * ("gelu_fast" and "gelu_accurate" are the tanh formula written differently.)
 * @throws ctt::io_error for any other name (e.g. "gelu_10", "relu6", "mish").
 */
[[nodiscard]] inline activation activation_from_hf_name(std::string_view name) {
    if (name == "gelu" || name == "gelu_python") {
        return activation::gelu_erf;
    }
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast" ||
        name == "gelu_accurate") {
        return activation::gelu_tanh;
    }
    if (name == "quick_gelu") {
        return activation::quick_gelu;
    }
    if (name == "relu") {
        return activation::relu;
    }
    if (name == "silu" || name == "swish") {
        return activation::silu;
    }
    throw io_error("activation: unsupported activation name \"" + std::string(name) + "\"");
}

/** @brief The ctt name of an activation ("relu", "gelu_erf", ...). */
[[nodiscard]] constexpr std::string_view to_string(activation a) noexcept {
    switch (a) {
    case activation::relu:
        return "relu";
    case activation::gelu_erf:
        return "gelu_erf";
    case activation::gelu_tanh:
        return "gelu_tanh";
    case activation::quick_gelu:
        return "quick_gelu";
    case activation::silu:
        return "silu";
    }
    return "unknown";
}

/**
 * @brief Activation `A` on one register (the building block of fused kernels: GLU, a GEMM
 *        epilogue). Uses `simd::erf`, `simd::tanh`, `simd::exp` (worst errors 1-2 ULP).
 */
template <activation A, class Arch>
[[nodiscard]] inline xsimd::batch<float, Arch>
activate(const xsimd::batch<float, Arch>& x) noexcept {
    using B = xsimd::batch<float, Arch>;
    if constexpr (A == activation::relu) {
        return xsimd::max(x, B(0.f));
    } else if constexpr (A == activation::gelu_erf) {
        const B half_x = B(0.5f) * x;
        return xsimd::fma(half_x, simd::erf(x * B(0.7071067811865476f)), half_x);
    } else if constexpr (A == activation::gelu_tanh) {
        const B half_x = B(0.5f) * x;
        // sqrt(2/pi) (x + 0.044715 x^3) = x (sqrt(2/pi) + sqrt(2/pi) 0.044715 x^2)
        const B inner = x * xsimd::fma(x * x, B(0.0356774081f), B(0.7978845608f));
        return xsimd::fma(half_x, simd::tanh(inner), half_x);
    } else if constexpr (A == activation::quick_gelu) {
        return x / (B(1.f) + simd::exp(B(-1.702f) * x));
    } else {
        static_assert(A == activation::silu);
        return x / (B(1.f) + simd::exp(-x));
    }
}

namespace detail {
template <activation A>
inline void activation_row(const float* in, float* out, std::size_t n) noexcept {
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        simd::store_n(out + i, activate<A>(simd::load_n(in + i, lanes)), lanes);
    });
}
} // namespace detail

/** @brief `out = A(in)` elementwise; `out` may be the same view as `in`. */
template <activation A, detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void apply_activation(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_ACTIVATION_SHAPES, SI, SO, in.shape(), out.shape());
    const std::size_t n = in.cols();
    detail::for_each_row([=](const float* pi, float* po) { detail::activation_row<A>(pi, po, n); },
                         in, out);
}

/** @brief `x = A(x)` in place. */
template <activation A, tensor_shape S>
inline void apply_activation(tensor_view<float, S> x) {
    apply_activation<A>(tensor_view<const float, S>(x), x);
}

/** @brief `out = a(in)` with the activation chosen at run time (from a config file). */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void apply_activation(activation a, tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    switch (a) {
    case activation::relu:
        apply_activation<activation::relu>(in, out);
        return;
    case activation::gelu_erf:
        apply_activation<activation::gelu_erf>(in, out);
        return;
    case activation::gelu_tanh:
        apply_activation<activation::gelu_tanh>(in, out);
        return;
    case activation::quick_gelu:
        apply_activation<activation::quick_gelu>(in, out);
        return;
    case activation::silu:
        apply_activation<activation::silu>(in, out);
        return;
    }
}

/** @brief `x = a(x)` in place, with the activation chosen at run time. */
template <tensor_shape S>
inline void apply_activation(activation a, tensor_view<float, S> x) {
    apply_activation(a, tensor_view<const float, S>(x), x);
}

/** @brief ReLU in place. */
template <tensor_shape S>
inline void relu(tensor_view<float, S> x) {
    apply_activation<activation::relu>(x);
}
/** @brief ReLU out of place. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void relu(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    apply_activation<activation::relu>(in, out);
}
/** @brief GELU, exact erf form (HF "gelu"), in place. */
template <tensor_shape S>
inline void gelu_erf(tensor_view<float, S> x) {
    apply_activation<activation::gelu_erf>(x);
}
/** @brief GELU, exact erf form (HF "gelu"), out of place. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void gelu_erf(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    apply_activation<activation::gelu_erf>(in, out);
}
/** @brief GELU, tanh approximation (HF "gelu_new"), in place. */
template <tensor_shape S>
inline void gelu_tanh(tensor_view<float, S> x) {
    apply_activation<activation::gelu_tanh>(x);
}
/** @brief GELU, tanh approximation (HF "gelu_new"), out of place. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void gelu_tanh(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    apply_activation<activation::gelu_tanh>(in, out);
}
/** @brief QuickGELU x sigmoid(1.702 x) (CLIP), in place. */
template <tensor_shape S>
inline void quick_gelu(tensor_view<float, S> x) {
    apply_activation<activation::quick_gelu>(x);
}
/** @brief QuickGELU x sigmoid(1.702 x) (CLIP), out of place. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void quick_gelu(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    apply_activation<activation::quick_gelu>(in, out);
}
/** @brief SiLU / swish x sigmoid(x), in place. */
template <tensor_shape S>
inline void silu(tensor_view<float, S> x) {
    apply_activation<activation::silu>(x);
}
/** @brief SiLU / swish x sigmoid(x), out of place. */
template <detail::rowwise_element TI, tensor_shape SI, tensor_shape SO>
inline void silu(tensor_view<TI, SI> in, tensor_view<float, SO> out) {
    apply_activation<activation::silu>(in, out);
}

} // namespace ctt
