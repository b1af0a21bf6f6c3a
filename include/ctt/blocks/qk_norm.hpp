#pragma once
/**
 * @file
 * @brief Per-head query/key normalisation as a `qk_transform` (Qwen3, OLMo-2 style "QK-norm",
 *        Dehghani et al., arXiv:2302.05442), and the composition of two transforms, so a model
 *        normalises each head and then rotates it in the one pass the kernel makes per token.
 */

#include <cmath>
#include <string>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/tensor.hpp"

namespace ctt {

/**
 * @brief RMSNorm over one head vector of `D` components with a weight shared by every head:
 *        `x * rsqrt(mean(x^2) + eps) * weight` (HF `Qwen3RMSNorm` on `q_proj(x).view(..., D)`).
 */
template <index_t D>
struct head_rms_norm {
    tensor<float, shape<D>> weight;
    float eps = 1e-6f;

    void apply(index_t /*pos*/, float* vec, index_t /*dim*/) const noexcept {
        float sum = 0.f;
        for (index_t i = 0; i < D; ++i) {
            sum += vec[i] * vec[i];
        }
        const float inv = 1.f / std::sqrt(sum / static_cast<float>(D) + eps);
        const float* w = weight.data();
        for (index_t i = 0; i < D; ++i) {
            vec[i] = w[i] * (vec[i] * inv);
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "weight", weight.view());
    }
};

/// `second(first(vec))` at the same position: a norm then a rotary embedding.
template <qk_transform First, qk_transform Second>
struct chained_transform {
    const First* first;
    const Second* second;

    void apply(index_t pos, float* vec, index_t dim) const {
        first->apply(pos, vec, dim);
        second->apply(pos, vec, dim);
    }
};

static_assert(qk_transform<head_rms_norm<16>>);

} // namespace ctt
