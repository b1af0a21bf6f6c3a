#pragma once
/**
 * @file
 * @brief Row normalisations: `layer_norm` (Ba et al., arXiv:1607.06450; PyTorch `nn.LayerNorm`
 *        with or without its bias) and `rms_norm` (Zhang & Sennrich, arXiv:1910.07467; the form
 *        of HF's `T5LayerNorm` and `LlamaRMSNorm`: `x * rsqrt(mean(x^2) + eps) * weight`).
 *
 * Statistics are accumulated in float over four independent vector accumulators combined
 * pairwise (`detail::sum_row`); the variance is computed in a second pass over `x - mean`
 * rather than as `E[x^2] - mean^2`, which cancels catastrophically for rows with a large mean.
 * `out` may be the same view as `x`: each element is read before it is overwritten.
 */

#include <cmath>
#include <cstddef>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

namespace detail {

/// One row of layer norm; `beta` may be null (no bias).
inline void layer_norm_row(const float* x, const float* gamma, const float* beta, float eps,
                           float* out, std::size_t n) noexcept {
    using batch = simd::batch<float>;
    const float mean =
        sum_row(n, [x](std::size_t i, std::size_t lanes) { return simd::load_n(x + i, lanes); }) /
        static_cast<float>(n);
    const batch m(mean);
    // Tail lanes are filled with the mean so that they contribute zero deviation.
    const float var = sum_row(n,
                              [x, mean, &m](std::size_t i, std::size_t lanes) {
                                  const batch d = (lanes == simd::width<float>
                                                       ? simd::load(x + i)
                                                       : simd::load_partial(x + i, lanes, mean)) -
                                                  m;
                                  return d * d;
                              }) /
                      static_cast<float>(n);
    const batch rstd(1.f / std::sqrt(var + eps));
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        const batch y = (simd::load_n(x + i, lanes) - m) * rstd;
        const batch g = simd::load_n(gamma + i, lanes);
        simd::store_n(out + i,
                      beta == nullptr ? y * g : simd::fma(y, g, simd::load_n(beta + i, lanes)),
                      lanes);
    });
}

inline void rms_norm_row(const float* x, const float* gamma, float eps, float* out,
                         std::size_t n) noexcept {
    using batch = simd::batch<float>;
    const float mean_square = sum_row(n,
                                      [x](std::size_t i, std::size_t lanes) {
                                          const batch v = simd::load_n(x + i, lanes);
                                          return v * v;
                                      }) /
                              static_cast<float>(n);
    const batch r(1.f / std::sqrt(mean_square + eps));
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        // (x * r) * weight, in HF's order.
        simd::store_n(out + i, (simd::load_n(x + i, lanes) * r) * simd::load_n(gamma + i, lanes),
                      lanes);
    });
}

template <class SX, class SO, class SW>
inline void check_norm_shapes(const SX& x, const SO& out, const SW& weight) {
    static_assert(SW::rank == 1, "norm: the weight must be a rank-1 view");
    CTT_CHECK_DIMS(CTT_MSG_NORM_WIDTH, static_width_v<SX>, SW::static_extents[0],
                   x.extent(SX::rank - 1), weight.extent(0));
    CTT_CHECK_SAME_SHAPE(CTT_MSG_NORM_SHAPES, SX, SO, x, out);
}

} // namespace detail

/**
 * @brief `out = (x - mean) / sqrt(var + eps) * gamma + beta` over each row (biased variance,
 *        as PyTorch). `gamma` and `beta` are rank 1 with the row width.
 */
template <detail::rowwise_element TX, tensor_shape SX, detail::rowwise_element TG, tensor_shape SG,
          detail::rowwise_element TB, tensor_shape SB, tensor_shape SO>
inline void layer_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, tensor_view<TB, SB> beta,
                       float eps, tensor_view<float, SO> out) {
    detail::check_norm_shapes(x.shape(), out.shape(), gamma.shape());
    detail::check_norm_shapes(x.shape(), out.shape(), beta.shape());
    const std::size_t n = x.cols();
    const float* g = gamma.data();
    const float* b = beta.data();
    detail::for_each_row(
        [=](const float* px, float* po) { detail::layer_norm_row(px, g, b, eps, po, n); }, x, out);
}

/** @brief Layer norm without a bias: `out = (x - mean) / sqrt(var + eps) * gamma`. */
template <detail::rowwise_element TX, tensor_shape SX, detail::rowwise_element TG, tensor_shape SG,
          tensor_shape SO>
inline void layer_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, float eps,
                       tensor_view<float, SO> out) {
    detail::check_norm_shapes(x.shape(), out.shape(), gamma.shape());
    const std::size_t n = x.cols();
    const float* g = gamma.data();
    detail::for_each_row(
        [=](const float* px, float* po) { detail::layer_norm_row(px, g, nullptr, eps, po, n); }, x,
        out);
}

/** @brief `out = x * rsqrt(mean(x^2) + eps) * gamma` over each row (T5, LLaMA). */
template <detail::rowwise_element TX, tensor_shape SX, detail::rowwise_element TG, tensor_shape SG,
          tensor_shape SO>
inline void rms_norm(tensor_view<TX, SX> x, tensor_view<TG, SG> gamma, float eps,
                     tensor_view<float, SO> out) {
    detail::check_norm_shapes(x.shape(), out.shape(), gamma.shape());
    const std::size_t n = x.cols();
    const float* g = gamma.data();
    detail::for_each_row(
        [=](const float* px, float* po) { detail::rms_norm_row(px, g, eps, po, n); }, x, out);
}

} // namespace ctt
