#pragma once
/**
 * @file
 * @brief Every shape-error message of ctt, in one place and one format:
 *        `"<operation>: <what> differ (<a> != <b>)"`.
 *
 * When both sides are compile-time extents the check is a `static_assert` whose failing
 * condition, `ctt::detail::dims_agree<A, B>::value`, shows both sizes in the compiler's
 * diagnostic next to the message. When either side is a runtime extent the same message is
 * thrown as a `ctt::shape_error` with both sizes appended.
 * (The pattern follows Eigen's `StaticAssert.h`: one header owns every message.)
 */

#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#include "ctt/core/errors.hpp"

// clang-format off
#define CTT_MSG_SHAPE_EXTENT        "shape: static extents differ"
#define CTT_MSG_MATMUL_INNER        "matmul: inner dimensions differ"
#define CTT_MSG_MATMUL_ROWS         "matmul: output rows differ"
#define CTT_MSG_MATMUL_COLS         "matmul: output columns differ"
#define CTT_MSG_MATMUL_BIAS         "matmul: bias and output columns differ"
#define CTT_MSG_GEMV_INNER          "gemv: inner dimensions differ"
#define CTT_MSG_GEMV_OUT            "gemv: output lengths differ"
#define CTT_MSG_ADD_SHAPES          "add: operand extents differ"
#define CTT_MSG_ELEMENTWISE         "elementwise: operand extents differ"
#define CTT_MSG_COPY_SHAPES         "copy: source and destination extents differ"
#define CTT_MSG_VIEW_EXTENT         "view: static and runtime extents differ"
#define CTT_MSG_VIEW_SIZE           "view: element counts differ"
#define CTT_MSG_VIEW_BOUNDS         "view: slice end and extent differ"
#define CTT_MSG_RESHAPE_SIZE        "reshape: element counts differ"
#define CTT_MSG_NORM_WIDTH          "norm: row width and weight length differ"
#define CTT_MSG_SOFTMAX_BIAS        "softmax: score and bias widths differ"
#define CTT_MSG_GLU_WIDTH           "glu: gate and output widths differ"
#define CTT_MSG_ATTENTION_HEAD_DIM  "attention: head dimensions differ"
#define CTT_MSG_ATTENTION_KV_LEN    "attention: key and value lengths differ"
#define CTT_MSG_ATTENTION_Q_OUT     "attention: query and output lengths differ"
#define CTT_MSG_ATTENTION_GQA       "attention: query heads and a multiple of key/value heads differ"
#define CTT_MSG_KV_CAPACITY         "kv_cache: length after append and capacity differ"
#define CTT_MSG_MOE_INPUT_WIDTH     "mixture_of_experts: input width and hidden size differ"
#define CTT_MSG_MOE_OUTPUT_WIDTH    "mixture_of_experts: output width and hidden size differ"
#define CTT_MSG_MOE_ROWS            "mixture_of_experts: input and output rows differ"
#define CTT_MSG_MOE_WORKSPACE       "mixture_of_experts: token count and workspace rows differ"
#define CTT_MSG_EMBEDDING_WIDTH     "embedding: table width and output width differ"
#define CTT_MSG_EMBEDDING_IDS       "embedding: id count and output rows differ"
#define CTT_MSG_ROTARY_DIM          "rotary: rotary dimension and vector length differ"
#define CTT_MSG_ROTARY_HEADS        "rotary: row width and heads * head_dim differ"
#define CTT_MSG_BIAS_TENSOR_HEADS   "bias_tensor: bias heads and attention head index differ"
#define CTT_MSG_REL_WIDTH           "relative_bias: row width and heads * head_dim differ"
#define CTT_MSG_REL_TABLE_ROWS      "relative_bias: relative table rows and 2 * span differ"
#define CTT_MSG_REL_QUERY_ROWS      "relative_bias: query position and query rows differ"
#define CTT_MSG_NORM_SHAPES         "norm: input and output extents differ"
#define CTT_MSG_SOFTMAX_SHAPES      "softmax: input and output extents differ"
#define CTT_MSG_ACTIVATION_SHAPES   "activation: input and output extents differ"
#define CTT_MSG_GLU_SHAPES          "glu: gate, up and output extents differ"
#define CTT_MSG_GLU_FUSED_WIDTH     "glu: fused width and twice the output width differ"
#define CTT_MSG_ADD_BIAS            "add: bias length and row width differ"
#define CTT_MSG_CONV_IN_CHANNELS    "conv2d: input channels and weight input channels differ"
#define CTT_MSG_CONV_OUT_CHANNELS   "conv2d: output channels and weight output channels differ"
#define CTT_MSG_CONV_BATCH          "conv2d: input and output batch sizes differ"
#define CTT_MSG_CONV_OUT_HEIGHT     "conv2d: output height and the convolved height differ"
#define CTT_MSG_CONV_OUT_WIDTH      "conv2d: output width and the convolved width differ"
#define CTT_MSG_CONV_BIAS           "conv2d: bias length and output channels differ"
#define CTT_MSG_GROUP_NORM_GROUPS   "group_norm: channels and a multiple of the group count differ"
#define CTT_MSG_GROUP_NORM_AFFINE   "group_norm: channels and affine parameter length differ"
#define CTT_MSG_GROUP_NORM_SHAPES   "group_norm: input and output extents differ"
#define CTT_MSG_UPSAMPLE_SHAPES     "upsample_nearest2x: output extents and twice the input's differ"
#define CTT_MSG_CONCAT_CHANNELS     "concat_channels: output channels and the sum of the inputs' differ"
#define CTT_MSG_SPATIAL_TEXT_BATCH  "spatial_transformer: text and image batch sizes differ"
#define CTT_MSG_SPATIAL_SHAPES      "spatial_transformer: input and output extents differ"
#define CTT_MSG_UNET_TIMESTEPS      "ldm_unet: timestep count and batch size differ"
#define CTT_MSG_UNET_SHAPES         "ldm_unet: sample channels and in_channels differ"
#define CTT_MSG_CONCAT_EXTENTS      "concat_channels: input and output extents differ"
// clang-format on

namespace ctt::detail {

inline constexpr std::size_t dyn_extent = std::numeric_limits<std::size_t>::max();

/// True when two extents can describe the same dimension (equal, or either is runtime).
template <std::size_t A, std::size_t B>
struct dims_agree {
    static constexpr bool value = A == B || A == dyn_extent || B == dyn_extent;
};

[[noreturn]] inline void throw_dims(const char* message, std::size_t a, std::size_t b) {
    throw shape_error(std::string(message) + " (" + std::to_string(a) + " != " + std::to_string(b) +
                      ")");
}

/// Runtime half of a dimension check.
constexpr void check_dims(const char* message, std::size_t a, std::size_t b) {
    if (a != b) {
        throw_dims(message, a, b);
    }
}

/// Runtime check that `a <= b` (bounds of a slice, capacity of a cache).
constexpr void check_at_most(const char* message, std::size_t a, std::size_t b) {
    if (a > b) {
        throw_dims(message, a, b);
    }
}

} // namespace ctt::detail

/**
 * Checks that two extents agree: at compile time when both are static (`A_STATIC` and
 * `B_STATIC` are constant expressions, `ctt::dyn` for runtime), at run time otherwise.
 */
#define CTT_CHECK_DIMS(MESSAGE, A_STATIC, B_STATIC, a_runtime, b_runtime)                          \
    static_assert(::ctt::detail::dims_agree<(A_STATIC), (B_STATIC)>::value, MESSAGE);              \
    if constexpr ((A_STATIC) == ::ctt::detail::dyn_extent ||                                       \
                  (B_STATIC) == ::ctt::detail::dyn_extent) {                                       \
        ::ctt::detail::check_dims(MESSAGE, (a_runtime), (b_runtime));                              \
    }

/**
 * Checks that two shapes `SA` and `SB` (types) of equal rank agree in every dimension:
 * statically where both extents are static, at run time (on objects `a`, `b` with `extent(i)`)
 * otherwise.
 */
#define CTT_CHECK_SAME_SHAPE(MESSAGE, SA, SB, a, b)                                                \
    static_assert(SA::rank == SB::rank, MESSAGE);                                                  \
    [&]<std::size_t... CttI>(std::index_sequence<CttI...>) {                                       \
        static_assert((::ctt::detail::dims_agree<SA::static_extents[CttI],                         \
                                                 SB::static_extents[CttI]>::value &&               \
                       ...),                                                                       \
                      MESSAGE);                                                                    \
        (::ctt::detail::check_dims(MESSAGE, (a).extent(CttI), (b).extent(CttI)), ...);             \
    }                                                                                              \
    (std::make_index_sequence<SA::rank>{})
