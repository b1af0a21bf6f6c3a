#pragma once
/**
 * @file
 * @brief `mixture_of_experts`: a sparsely gated feed-forward layer. A linear router scores
 *        every token against `E` gated (GLU) experts and only the `top_k` best experts run on
 *        that token; their outputs are summed with the router's weights.
 *
 * The sparsely gated layer is Shazeer et al., "Outrageously Large Neural Networks"
 * (arXiv:1701.06538); top-2 routing in a decoder is GShard / GLaM (Du et al., arXiv:2112.06905);
 * the layout reproduced here, eight SwiGLU experts with top-2 routing after a softmax, is
 * Mixtral's (Jiang et al., arXiv:2401.04088), as Hugging Face transformers writes it in
 * `MixtralSparseMoeBlock` and `Qwen3MoeSparseMoeBlock` (expert weights fused in rank-3 tensors,
 * the v5 checkpoint layout). Inference only: no capacity factor, token dropping, noise or
 * load-balancing loss, which matter only in training.
 */

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "ctt/blocks/linear.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/kernels/glu.hpp"
#include "ctt/kernels/softmax.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/// How a router turns its logits into expert weights.
enum class router_order {
    softmax_then_top_k, ///< Mixtral, Qwen3-MoE, GLaM: softmax over all experts, keep the k largest
    top_k_then_softmax, ///< softmax over the k largest logits only
};

/**
 * @brief The routing rule of a `mixture_of_experts`.
 *
 * Hugging Face names: `top_k` is `num_experts_per_tok`, `normalize_top_k` is `norm_topk_prob`
 * (Qwen-MoE; Mixtral always renormalises). With `router_order::top_k_then_softmax` the kept
 * weights already sum to 1 and `normalize_top_k` has no effect.
 */
struct router_settings {
    index_t top_k = 2;
    router_order order = router_order::softmax_then_top_k;
    /// Renormalise the kept weights to sum 1 (HF `norm_topk_prob`; Mixtral always does).
    bool normalize_top_k = true;
};

namespace detail {

/**
 * @brief Writes into `chosen[0, k)` the indices of the `k` largest of `values[0, e)`, largest
 *        first; equal values keep the lower index first, as `torch.topk` on the CPU returns
 *        them. One pass with insertion into the sorted list kept so far: `O(e k)`.
 */
inline void top_k_indices(const float* values, index_t e, index_t k, index_t* chosen) noexcept {
    index_t kept = 0;
    for (index_t i = 0; i < e; ++i) {
        const float v = values[i];
        if (kept == k && !(v > values[chosen[k - 1]])) {
            continue;
        }
        // When the list is full, its last entry is the one dropped.
        index_t pos = kept < k ? kept : k - 1;
        while (pos > 0 && v > values[chosen[pos - 1]]) {
            chosen[pos] = chosen[pos - 1];
            --pos;
        }
        chosen[pos] = i;
        kept += kept < k ? 1 : 0;
    }
}

/**
 * @brief One token's routing: from its `e` router scores (probabilities after the softmax for
 *        `softmax_then_top_k`, raw logits otherwise), the chosen experts in `chosen[0, k)` and
 *        their weights in `weight[0, k)`.
 */
inline void route_token(const float* scores, index_t e, const router_settings& settings,
                        index_t* chosen, float* weight) {
    const index_t k = settings.top_k;
    top_k_indices(scores, e, k, chosen);
    if (settings.order == router_order::softmax_then_top_k) {
        float sum = 0.f;
        for (index_t j = 0; j < k; ++j) {
            weight[j] = scores[chosen[j]];
            sum += weight[j];
        }
        if (settings.normalize_top_k) {
            for (index_t j = 0; j < k; ++j) {
                weight[j] /= sum;
            }
        }
    } else {
        // Softmax over the kept logits; chosen[0] holds the largest, so no exponent is positive.
        const float largest = scores[chosen[0]];
        float sum = 0.f;
        for (index_t j = 0; j < k; ++j) {
            weight[j] = std::exp(scores[chosen[j]] - largest);
            sum += weight[j];
        }
        for (index_t j = 0; j < k; ++j) {
            weight[j] /= sum;
        }
    }
}

/// `y[0, n) += w * out[0, n)`, one rounding per element.
inline void scaled_add_row(float w, const float* out, float* y, std::size_t n) noexcept {
    const simd::batch<float> wv(w);
    simd::for_each_register<float>(n, [&](std::size_t i, std::size_t lanes) {
        simd::store_n(
            y + i, simd::fma(wv, simd::load_n(out + i, lanes), simd::load_n(y + i, lanes)), lanes);
    });
}

} // namespace detail

/**
 * @brief A mixture of `E` gated experts `down_e(act(gate_e(x)) * up_e(x))` of width `F` over
 *        hidden size `H`, of which each token uses `routing.top_k`.
 *
 * `forward` routes every token, then runs each expert once on the tokens routed to it: their
 * rows are gathered into a contiguous block, put through the packed GEMM of `kernels/gemm.hpp`
 * (a GEMV for a single token), the GLU, the second GEMM, and added into `y` scaled by the
 * token's weight. An expert no token chose costs nothing, so the layer costs about `top_k / E`
 * of running every expert. A token's experts are summed in ascending expert index, so the
 * result does not depend on the thread count; it does not depend on the other tokens of the
 * batch beyond the rounding of the GEMM (a GEMV for one token, a packed product for several).
 *
 * Parameters are named as in HF transformers v5: `gate.weight` `[E, H]` (the router),
 * `experts.gate_up_proj` `[E, 2F, H]` (expert e's gate in rows `[0, F)`, up in `[F, 2F)`),
 * `experts.down_proj` `[E, H, F]`.
 */
template <index_t H, index_t F, index_t E, activation Act>
struct mixture_of_experts {
    static_assert(H > 0 && F > 0 && E > 0, "mixture_of_experts: widths must be positive");

    static constexpr index_t hidden = H, inner = F, experts = E;
    linear<H, E, false> router;                // HF "gate" (nn.Linear H->E, no bias)
    tensor<float, shape<E, 2 * F, H>> gate_up; // expert e: rows [0,F) gate, [F,2F) up
    tensor<float, shape<E, H, F>> down;        // HF v5 experts.down_proj
    router_settings routing{};

    /**
     * @brief Buffers of one `forward` call of up to `rows` tokens, so that `forward` allocates
     *        nothing: `rows * (H + 2F + 2E)` floats and `rows * E` indices, whatever `top_k` is.
     */
    struct workspace {
        explicit workspace(index_t rows)
            : scores(rows)
            , expert_rows(rows)
            , expert_gate_up(rows)
            , routed_token(rows * E)
            , routed_weight(rows * E) {}

        /// The most tokens one `forward` call may take.
        [[nodiscard]] index_t rows() const noexcept { return scores.rows(); }
        /// Tokens routed to expert `e` by the last `forward` call.
        [[nodiscard]] index_t expert_load(index_t e) const noexcept { return routed_count[e]; }

        tensor<float, shape<dyn, E>> scores;             ///< router logits, then probabilities
        tensor<float, shape<dyn, H>> expert_rows;        ///< one expert's inputs, then outputs
        tensor<float, shape<dyn, 2 * F>> expert_gate_up; ///< `[gate | up]`, GLU into the gate
        std::vector<index_t> routed_token;               ///< expert e's tokens at `[e * rows, ...)`
        std::vector<float> routed_weight;                ///< and their weights
        std::array<index_t, E> routed_count{};           ///< how many tokens each expert has
    };

    /// Expert `e`'s fused `[gate; up]` weight, `[2F, H]` in `nn.Linear` layout.
    [[nodiscard]] tensor_view<const float, shape<2 * F, H>> expert_gate_up(index_t e) const {
        return gate_up.view()[e];
    }
    /// Expert `e`'s down projection, `[H, F]` in `nn.Linear` layout.
    [[nodiscard]] tensor_view<const float, shape<H, F>> expert_down(index_t e) const {
        return down.view()[e];
    }

    /**
     * @brief `y = moe(x)`, or `y += moe(x)` when `accumulate`; `x` and `y` are `[n, H]` and
     *        must not overlap; `ws` holds at least `n` rows.
     * @throws ctt::value_error when `routing.top_k` is outside `[1, E]`.
     * @throws ctt::shape_error when the widths, row counts or workspace do not fit.
     */
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate,
                 workspace& ws) const {
        static_assert(SX::rank == 2 && SY::rank == 2, "mixture_of_experts: x and y are [n, H]");
        CTT_CHECK_DIMS(CTT_MSG_MOE_INPUT_WIDTH, SX::static_extents[1], H, x.cols(), H);
        CTT_CHECK_DIMS(CTT_MSG_MOE_OUTPUT_WIDTH, SY::static_extents[1], H, y.cols(), H);
        CTT_CHECK_DIMS(CTT_MSG_MOE_ROWS, SX::static_extents[0], SY::static_extents[0], x.rows(),
                       y.rows());
        check_routing();
        const index_t n = x.rows();
        detail::check_at_most(CTT_MSG_MOE_WORKSPACE, n, ws.rows());
        ws.routed_count.fill(0);
        if (n == 0) {
            return;
        }
        route(x, ws);

        if (!accumulate) {
            for (index_t t = 0; t < n; ++t) {
                std::fill_n(y.data() + t * y.row_stride(), H, 0.f);
            }
        }
        const index_t capacity = ws.rows();
        for (index_t e = 0; e < E; ++e) {
            const index_t m = ws.routed_count[e];
            if (m == 0) {
                continue;
            }
            const index_t* tokens = ws.routed_token.data() + e * capacity;
            const float* weights = ws.routed_weight.data() + e * capacity;
            auto rows = ws.expert_rows.view().rows(0, m);
            for (index_t r = 0; r < m; ++r) {
                std::copy_n(x.data() + tokens[r] * x.row_stride(), H,
                            rows.data() + r * rows.row_stride());
            }
            auto fused = ws.expert_gate_up.view().rows(0, m);
            matmul_bt(tensor_view<const float, shape<dyn, H>>(rows), expert_gate_up(e), fused);
            auto gate = fused.template cols<F>(0);
            glu<Act>(tensor_view<const float, shape<dyn, F>>(gate),
                     tensor_view<const float, shape<dyn, F>>(fused.template cols<F>(F)), gate);
            // The gathered inputs are spent: the expert's outputs overwrite them.
            matmul_bt(tensor_view<const float, shape<dyn, F>>(gate), expert_down(e), rows);
            for (index_t r = 0; r < m; ++r) {
                detail::scaled_add_row(weights[r], rows.data() + r * rows.row_stride(),
                                       y.data() + tokens[r] * y.row_stride(), H);
            }
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        router.visit_parameters(v, prefix + "gate.");
        v.parameter(prefix + "experts.gate_up_proj", gate_up.view());
        v.parameter(prefix + "experts.down_proj", down.view());
    }

private:
    void check_routing() const {
        if (routing.top_k < 1 || routing.top_k > E) {
            throw value_error(detail::message("mixture_of_experts: top_k is ",
                                              std::to_string(routing.top_k), ", outside [1, ",
                                              std::to_string(E), "]"));
        }
    }

    /// Router logits for the `n = x.rows()` tokens, then each token appended to the lists of
    /// its chosen experts, tokens in ascending order.
    template <class TX, tensor_shape SX>
    void route(tensor_view<TX, SX> x, workspace& ws) const {
        const index_t n = x.rows();
        const index_t k = routing.top_k;
        const index_t capacity = ws.rows();
        auto scores = ws.scores.view().rows(0, n);
        router.forward(x, scores);
        if (routing.order == router_order::softmax_then_top_k) {
            softmax_rows(scores);
        }
        std::array<index_t, E> chosen{};
        std::array<float, E> weight{};
        for (index_t t = 0; t < n; ++t) {
            detail::route_token(scores.data() + t * scores.row_stride(), E, routing, chosen.data(),
                                weight.data());
            for (index_t j = 0; j < k; ++j) {
                const index_t e = chosen[j];
                const index_t slot = e * capacity + ws.routed_count[e]++;
                ws.routed_token[slot] = t;
                ws.routed_weight[slot] = weight[j];
            }
        }
    }
};

} // namespace ctt
