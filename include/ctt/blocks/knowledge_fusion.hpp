#pragma once
/**
 * @file
 * @brief The knowledge fusion layer of ERNIE (Zhang et al. 2019, arXiv:1905.07129, section 3.3;
 *        thunlp/ERNIE `knowledge_bert/modeling.py`, `BertIntermediate` and `BertOutput`): the
 *        feed-forward that mixes a token stream and an entity stream.
 *
 *     mid    = act(W_t h_t + b_t + W_e h_e + b_e)          (the information fusion)
 *     h_t'   = LN_t(h_t + W_t' mid + b_t')                  (the token stream's output)
 *     h_e'   = LN_e(h_e + W_e' mid + b_e')                  (the entity stream's output)
 *
 * `h_e` is the entity vector aligned to each token: the entity at the first token of its
 * mention, zero elsewhere (the caller multiplies by the entity mask). The block knows nothing
 * of attention, so it can follow the attention of any encoder layer; its names are the
 * caller's (ERNIE: `intermediate.dense`, `intermediate.dense_ent`, `output.dense`,
 * `output.dense_ent`, `output.LayerNorm`, `output.LayerNorm_ent`).
 */

#include <string>

#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/activations.hpp"

namespace ctt {

/**
 * @brief Fuses a `Hidden`-wide token stream with an `EntityWidth`-wide entity stream through an
 *        `Inner`-wide activation `Act`.
 */
template <index_t Hidden, index_t EntityWidth, index_t Inner, activation Act>
struct knowledge_fusion_layer {
    static constexpr index_t hidden = Hidden;
    static constexpr index_t entity_width = EntityWidth;
    static constexpr index_t inner = Inner;

    linear<Hidden, Inner> token_in;       ///< W_t
    linear<EntityWidth, Inner> entity_in; ///< W_e
    linear<Inner, Hidden> token_out;      ///< W_t'
    linear<Inner, EntityWidth> entity_out;
    layer_norm_block<Hidden> token_norm;
    layer_norm_block<EntityWidth> entity_norm;

    /**
     * @brief `tokens` (`[n, Hidden]`) and `entities` (`[n, EntityWidth]`, aligned to the tokens)
     *        are replaced by the layer's outputs; `scratch` holds `n` rows of `Inner`.
     */
    template <tensor_shape ST, tensor_shape SE>
    void forward(tensor_view<float, ST> tokens, tensor_view<float, SE> entities,
                 tensor_view<float, shape<dyn, Inner>> scratch) const {
        const index_t n = tokens.rows();
        detail::check_dims("knowledge_fusion_layer: token and entity rows differ", n,
                           entities.rows());
        auto mid = scratch.rows(0, n);
        token_in.forward(tensor_view<const float, ST>(tokens), mid);
        entity_in.forward(tensor_view<const float, SE>(entities), mid, true);
        apply_activation<Act>(mid);
        const auto cmid = tensor_view<const float, shape<dyn, Inner>>(mid);
        token_out.forward(cmid, tokens, true);
        token_norm.forward(tensor_view<const float, ST>(tokens), tokens);
        entity_out.forward(cmid, entities, true);
        entity_norm.forward(tensor_view<const float, SE>(entities), entities);
    }

    /// Sets both norms' epsilon.
    void set_eps(float eps) noexcept {
        token_norm.eps = eps;
        entity_norm.eps = eps;
    }
};

} // namespace ctt
