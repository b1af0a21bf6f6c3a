#pragma once
/**
 * @file
 * @brief Group normalisation over NCHW images (Wu & He, "Group Normalization",
 *        arXiv:1803.08494; PyTorch `nn.GroupNorm`): the `C` channels of each image fall into
 *        `G` groups of `C/G` consecutive channels, and each group is normalised by the mean
 *        and biased variance of its `C/G x H x W` values, then scaled and shifted per channel
 *        when the norm is affine. Optionally followed by SiLU in the same pass (the
 *        `GroupNorm -> SiLU` pair that opens every diffusers ResNet block).
 *
 * Statistics are accumulated in float, as PyTorch does for fp32, with the variance taken in a
 * second pass over `x - mean` (see `norms.hpp`). Groups are independent and each is computed
 * by one thread, so the result does not depend on the thread count. `out` may be `x`.
 */

#include <cmath>
#include <cstddef>
#include <string>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/detail/rowwise.hpp"
#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt {

namespace kernels {

namespace detail {

/// One group: `channels` planes of `plane` floats, dense from `x` and `out`.
inline void group_norm_group(const float* x, float* out, index_t channels, index_t plane,
                             const float* gamma, const float* beta, float eps, bool silu) {
    using batch = simd::batch<float>;
    const auto n = static_cast<std::size_t>(channels * plane);
    const float mean =
        ctt::detail::sum_row(
            n, [x](std::size_t i, std::size_t lanes) { return simd::load_n(x + i, lanes); }) /
        static_cast<float>(n);
    const batch m(mean);
    const float var = ctt::detail::sum_row(n,
                                           [x, mean, &m](std::size_t i, std::size_t lanes) {
                                               const batch d =
                                                   (lanes == simd::width<float>
                                                        ? simd::load(x + i)
                                                        : simd::load_partial(x + i, lanes, mean)) -
                                                   m;
                                               return d * d;
                                           }) /
                      static_cast<float>(n);
    const float rstd = 1.f / std::sqrt(var + eps);
    for (index_t c = 0; c < channels; ++c) {
        // (x - mean) * rstd * gamma + beta == x * scale + shift.
        const float scale = gamma != nullptr ? rstd * gamma[c] : rstd;
        const float shift = (beta != nullptr ? beta[c] : 0.f) - mean * scale;
        const batch vs(scale);
        const batch vb(shift);
        const float* xc = x + c * plane;
        float* oc = out + c * plane;
        simd::for_each_register<float>(
            static_cast<std::size_t>(plane), [&](std::size_t i, std::size_t lanes) {
                const batch y = simd::fma(simd::load_n(xc + i, lanes), vs, vb);
                simd::store_n(oc + i, silu ? activate<activation::silu>(y) : y, lanes);
            });
    }
}

} // namespace detail

/**
 * @brief Group norm of `batch` images of `channels x plane` floats (`plane = H*W`), images
 *        `x_stride` and `out_stride` floats apart. `gamma` and `beta` (nullable: a norm
 *        without affine parameters, or without a shift) hold one value per channel.
 *        `channels` must be a multiple of `groups`.
 */
inline void group_norm(index_t batch, index_t channels, index_t plane, index_t groups,
                       const float* x, index_t x_stride, const float* gamma, const float* beta,
                       float eps, float* out, index_t out_stride, bool silu = false) {
    if (groups < 1 || channels % groups != 0) {
        throw shape_error(std::string(CTT_MSG_GROUP_NORM_GROUPS) + " (" + std::to_string(channels) +
                          " != " + std::to_string(groups) + " * k)");
    }
    const index_t per_group = channels / groups;
    const auto body = [&](std::size_t i) {
        const index_t b = static_cast<index_t>(i) / groups;
        const index_t g = static_cast<index_t>(i) - b * groups;
        const index_t c0 = g * per_group;
        detail::group_norm_group(x + b * x_stride + c0 * plane, out + b * out_stride + c0 * plane,
                                 per_group, plane, gamma != nullptr ? gamma + c0 : nullptr,
                                 beta != nullptr ? beta + c0 : nullptr, eps, silu);
    };
    const auto tasks = static_cast<std::size_t>(batch * groups);
    if (batch * channels * plane >= ctt::detail::parallel_rows_min_elements) {
        simd::parallel_for(0, tasks, body);
    } else {
        for (std::size_t i = 0; i < tasks; ++i) {
            body(i);
        }
    }
}

} // namespace kernels

namespace detail {

template <class SX, class SO>
inline void group_norm_check(const SX& x, const SO& out) {
    static_assert(SX::rank >= 3, "group_norm: the input must be [N, C, spatial...]");
    CTT_CHECK_SAME_SHAPE(CTT_MSG_GROUP_NORM_SHAPES, SX, SO, x, out);
}

/// Floats per channel plane of an `[N, C, spatial...]` view, and whether images are dense.
template <class V>
inline index_t group_norm_plane(const V& v) {
    index_t plane = 1;
    for (index_t d = 2; d < V::rank; ++d) {
        plane *= v.extent(d);
    }
    index_t expect = 1;
    for (index_t d = V::rank; d-- > 1;) {
        if (v.stride(d) != expect) {
            throw shape_error("group_norm: each image must be dense in C and its spatial axes");
        }
        expect *= v.extent(d);
    }
    return plane;
}

template <class TX, class SX, class SO>
inline void group_norm_views(tensor_view<TX, SX> x, index_t groups, const float* gamma,
                             const float* beta, index_t affine_len, float eps,
                             tensor_view<float, SO> out, bool silu) {
    group_norm_check(x.shape(), out.shape());
    if (gamma != nullptr) {
        check_dims(CTT_MSG_GROUP_NORM_AFFINE, affine_len, x.extent(1));
    }
    const index_t plane = group_norm_plane(x);
    (void)group_norm_plane(out);
    kernels::group_norm(x.extent(0), x.extent(1), plane, groups, x.data(), x.stride(0), gamma, beta,
                        eps, out.data(), out.stride(0), silu);
}

} // namespace detail

/**
 * @brief `out = GroupNorm(groups, eps)(x) * gamma + beta` over `[N, C, spatial...]` (NCHW for
 *        images), `gamma` and `beta` of length C. `out` may be `x`.
 */
template <detail::rowwise_element TX, tensor_shape SX, detail::rowwise_element TG, tensor_shape SG,
          detail::rowwise_element TB, tensor_shape SB, tensor_shape SO>
requires(SG::rank == 1 &&
         SB::rank == 1) inline void group_norm(tensor_view<TX, SX> x, index_t groups,
                                               tensor_view<TG, SG> gamma, tensor_view<TB, SB> beta,
                                               float eps, tensor_view<float, SO> out) {
    detail::check_dims(CTT_MSG_GROUP_NORM_AFFINE, beta.extent(0), gamma.extent(0));
    detail::group_norm_views(x, groups, gamma.data(), beta.data(), gamma.extent(0), eps, out,
                             false);
}

/** @brief Group norm without affine parameters (`affine=False`). */
template <detail::rowwise_element TX, tensor_shape SX, tensor_shape SO>
inline void group_norm(tensor_view<TX, SX> x, index_t groups, float eps,
                       tensor_view<float, SO> out) {
    detail::group_norm_views(x, groups, nullptr, nullptr, 0, eps, out, false);
}

/** @brief `out = silu(group_norm(x) * gamma + beta)` in one pass. */
template <detail::rowwise_element TX, tensor_shape SX, detail::rowwise_element TG, tensor_shape SG,
          detail::rowwise_element TB, tensor_shape SB, tensor_shape SO>
requires(SG::rank == 1 &&
         SB::rank == 1) inline void group_norm_silu(tensor_view<TX, SX> x, index_t groups,
                                                    tensor_view<TG, SG> gamma,
                                                    tensor_view<TB, SB> beta, float eps,
                                                    tensor_view<float, SO> out) {
    detail::check_dims(CTT_MSG_GROUP_NORM_AFFINE, beta.extent(0), gamma.extent(0));
    detail::group_norm_views(x, groups, gamma.data(), beta.data(), gamma.extent(0), eps, out, true);
}

} // namespace ctt
