#pragma once
/**
 * @file
 * @brief `linear`: a dense projection `y = x W^T + b` with static widths, in either of the two
 *        weight layouts Hugging Face checkpoints use.
 */

#include <string>

#include "ctt/core/tensor.hpp"
#include "ctt/kernels/gemm.hpp"

namespace ctt {

/// How a checkpoint stores a projection's weight.
enum class weight_layout {
    out_in, ///< `torch.nn.Linear`: `[out, in]`, so `y = x W^T`
    in_out, ///< GPT-2's `Conv1D`: `[in, out]`, so `y = x W`
};

namespace detail {
/// Stands in for a parameter a configuration leaves out (a bias-free projection).
struct absent {};

template <index_t In, index_t Out, weight_layout Layout>
using linear_weight_shape =
    std::conditional_t<Layout == weight_layout::out_in, shape<Out, In>, shape<In, Out>>;
} // namespace detail

/**
 * @brief A projection from `In` to `Out` features, with an optional bias.
 *
 * `forward` takes any rank-2 view of `In` columns (row strides allowed) and writes `Out`
 * columns, through the packed GEMM of `kernels/gemm.hpp`.
 */
template <index_t In, index_t Out, bool Bias = true, weight_layout Layout = weight_layout::out_in>
struct linear {
    static constexpr index_t in_features = In;
    static constexpr index_t out_features = Out;
    static constexpr bool has_bias = Bias;

    tensor<float, detail::linear_weight_shape<In, Out, Layout>> weight;
    [[no_unique_address]] std::conditional_t<Bias, tensor<float, shape<Out>>, detail::absent> bias;

    /// `y = x W^T + b`, or `y += ...` with `accumulate` (a residual connection for free).
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate = false) const {
        const gemm_options options{1.f, accumulate};
        if constexpr (Layout == weight_layout::out_in) {
            if constexpr (Bias) {
                matmul_bt(x, weight.view(), bias.view(), y, options);
            } else {
                matmul_bt(x, weight.view(), y, options);
            }
        } else {
            if constexpr (Bias) {
                matmul(x, weight.view(), bias.view(), y, options);
            } else {
                matmul(x, weight.view(), y, options);
            }
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "weight", weight.view());
        if constexpr (Bias) {
            v.parameter(prefix + "bias", bias.view());
        }
    }
};

} // namespace ctt
