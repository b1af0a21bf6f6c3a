#pragma once
/**
 * @file
 * @brief The layer loop every causal decoder shares: each layer's residual wiring around
 *        attention through its KV cache and a feed-forward, the hidden states HF reports, and
 *        the final norm. Families differ only in the policies they hand to the attention
 *        (rotary, ALiBi, scale), which the caller passes as a callable.
 */

#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/core/tensor.hpp"

namespace ctt::detail {

/**
 * @brief Runs `layers` over the new tokens `x` (`[n, H]`) of the sequence held by `session`,
 *        then `final_norm`, in place.
 *
 * Each layer has `norms` (a `residual_layer`), `attention` (an `attention_block`) and `ffn`.
 * `attend(layer, cache, in, out, accumulate, workspace)` runs the layer's attention through its
 * cache. `ffn_rows` is the number of scratch rows per token the feed-forward needs (2 for gated
 * ones). With `hidden_states`, appends the input and each layer's output as HF reports them
 * (the last one after the final norm).
 */
template <class Layers, class Session, class FinalNorm, index_t H, index_t F, class Attend>
void run_decoder_stack(const Layers& layers, Session& session, const FinalNorm& final_norm,
                       tensor<float, shape<dyn, H>>& x, index_t ffn_rows,
                       std::vector<tensor<float, shape<dyn, H>>>* hidden_states,
                       tensor<float, shape<dyn, F>>& ffn_scratch, Attend&& attend) {
    using layer_type = typename Layers::value_type;
    using workspace = typename decltype(layer_type::attention)::workspace;
    const index_t n = x.rows();
    if (hidden_states != nullptr) {
        hidden_states->push_back(x);
    }
    tensor<float, shape<dyn, H>> scratch(n);
    tensor<float, shape<dyn, H>> scratch2(decltype(layer_type::norms)::needs_second_scratch ? n
                                                                                            : 0);
    ffn_scratch = tensor<float, shape<dyn, F>>(ffn_rows * n);
    workspace ws(n);
    for (index_t i = 0; i < layers.size(); ++i) {
        const auto& l = layers[i];
        auto& cache = session[i];
        l.norms.forward(
            x.view(), scratch.view(),
            decltype(layer_type::norms)::needs_second_scratch ? scratch2.view() : scratch.view(),
            [&](auto in, auto y, bool acc) { attend(l, cache, in, y, acc, ws); },
            [&](auto in, auto y, bool acc) { l.ffn.forward(in, y, acc, ffn_scratch.view()); });
        if (hidden_states != nullptr && i + 1 < layers.size()) {
            hidden_states->push_back(x);
        }
    }
    final_norm.forward(tensor_view<const float, shape<dyn, H>>(x.view()), x.view());
    if (hidden_states != nullptr) {
        hidden_states->push_back(x);
    }
}

} // namespace ctt::detail
