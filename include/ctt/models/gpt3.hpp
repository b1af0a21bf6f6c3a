#pragma once
/**
 * @file
 * @brief GPT-3 (Brown et al., arXiv:2005.14165): GPT-2's layers, with dense attention in even
 *        layers and a Sparse Transformer pattern (Child et al., arXiv:1904.10509) in odd ones.
 *        No reference checkpoint exists; the config names the pattern (`sparse_pattern`:
 *        strided, fixed or local) and its `sparse_stride` (and `sparse_summary` for fixed), and
 *        weights use GPT-2's names. Dense GPT-3 is `gpt2`.
 */

#include "ctt/attention/sparse_masks.hpp"
#include "ctt/models/gpt2.hpp"

namespace ctt {

namespace families {
struct gpt3 : gpt2 {
    /// Layer `i`'s mask: causal in even layers, the config's sparse pattern in odd ones.
    template <class C>
    static constexpr layer_sparse_mask layer_mask(index_t i) {
        if (i % 2 == 0) {
            return {};
        }
        index_t summary = 1;
        if constexpr (requires { C::sparse_summary; }) {
            summary = C::sparse_summary;
        }
        return {C::sparse_pattern, C::sparse_stride, summary};
    }
};
} // namespace families

template <causal_lm_config C>
using gpt3 = causal_lm<C, families::gpt3>;

} // namespace ctt
