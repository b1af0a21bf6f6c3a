#pragma once
/**
 * @file
 * @brief `linear`: a dense projection `y = x W^T + b` with static widths, in either of the two
 *        weight layouts Hugging Face checkpoints use.
 */

#include <functional>
#include <string>
#include <utility>

#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/kernels/packed_gemm.hpp"

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

    tensor<float, detail::linear_weight_shape<In, Out, Layout>> weight; ///< released once packed
    [[no_unique_address]] std::conditional_t<Bias, tensor<float, shape<Out>>, detail::absent> bias;
    /// The weight in the GEMM's sliver layout, once `pack()` ran (`load_parameters` packs every
    /// linear layer as it loads): no packing per call, and one row reads it in place.
    kernels::packed_matrix packed;

    /// Moves the weight into the GEMM's layout, stored as `type` (and frees the checkpoint
    /// layout). The bias stays `float`.
    void pack(weight_type type = weight_type::f32) {
        if (is_packed()) {
            return;
        }
        constexpr bool out_in = Layout == weight_layout::out_in;
        packed =
            kernels::packed_matrix(In, Out, weight.data(), out_in ? In : Out,
                                   out_in ? kernels::transpose::yes : kernels::transpose::no, type);
        weight.release();
    }
    [[nodiscard]] bool is_packed() const noexcept { return !packed.empty(); }

    /// `y = x W^T + b`, or `y += ...` with `accumulate` (a residual connection for free).
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate = false) const {
        if (is_packed()) {
            CTT_CHECK_DIMS(CTT_MSG_MATMUL_INNER, In, (SX::static_extents[1]), In, x.extent(1));
            CTT_CHECK_DIMS(CTT_MSG_MATMUL_COLS, Out, (SY::static_extents[1]), Out, y.extent(1));
            CTT_CHECK_DIMS(CTT_MSG_MATMUL_ROWS, (SX::static_extents[0]), (SY::static_extents[0]),
                           x.extent(0), y.extent(0));
            const float* b = nullptr;
            if constexpr (Bias) {
                b = bias.data();
            }
            kernels::gemm_packed(x.extent(0), x.data(), x.row_stride(), packed, y.data(),
                                 y.row_stride(), 1.f, accumulate, b);
            return;
        }
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

    /// Binds `weight` and `bias`; a visitor that loads weights (`pack_when_loaded`) packs the
    /// layer in the weight type it chooses, as soon as its weight is read (or once the model's
    /// own load-time transforms ran, for a model that has some).
    /// A loader that binds weights in place (`weight_binding::in_place`) may hand out the
    /// weight where it lies in the file, in either layout: the layer then reads it there.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        if constexpr (requires { v.rows_in_place(prefix, Out, In); }) {
            constexpr bool out_in = Layout == weight_layout::out_in;
            if (auto rows =
                    v.rows_in_place(prefix + "weight", out_in ? Out : In, out_in ? In : Out)) {
                packed = kernels::packed_matrix::in_place(
                    In, Out, rows->data, out_in ? kernels::transpose::yes : kernels::transpose::no,
                    rows->type, std::move(rows->owner));
                weight.release();
                if constexpr (Bias) {
                    v.parameter(prefix + "bias", bias.view());
                }
                return;
            }
        }
        v.parameter(prefix + "weight", weight.view());
        if constexpr (Bias) {
            v.parameter(prefix + "bias", bias.view());
        }
        if constexpr (requires { v.pack_when_loaded(std::function<void(weight_type)>{}); }) {
            v.pack_when_loaded([this](weight_type type) { pack(type); });
        }
    }
};

} // namespace ctt
