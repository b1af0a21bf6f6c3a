#pragma once
/**
 * @file
 * @brief Vocabulary shared by the gemm/gemv kernels and their scalar twins.
 */

namespace ctt {

/** @brief Options of every matmul: `C = alpha * op + (accumulate ? C : 0)`. */
struct gemm_options {
    float alpha = 1.f;
    bool accumulate = false;
};

namespace kernels {
/** @brief Whether the B operand of a gemm is stored as `B[k,n]` (no) or `B[n,k]` (yes). */
enum class transpose { no, yes };
} // namespace kernels

} // namespace ctt
