#pragma once
/**
 * @file
 * @brief Attention in PyTorch's packed layout (`in_proj_weight` `[q; k; v]`, one `in_proj_bias`,
 *        `out_proj`), as cross-attention, and the attentional pooler built on it: learned
 *        queries that attend to a sequence (CoCa's image tokens; Lee et al.'s set pooling).
 *
 * `packed_attention<Hidden, Heads, MemoryWidth>` keeps the checkpoint's layout: with a memory as
 * wide as the queries, one `[3 * Hidden, Hidden]` weight whose row blocks project q, k and v;
 * with another width, three weights (`q_proj_weight`, `k_proj_weight`, `v_proj_weight`), as
 * `nn.MultiheadAttention` and open_clip's `Attention` store them.
 */

#include <string>
#include <type_traits>

#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/gemm.hpp"

namespace ctt {

/**
 * @brief Cross-attention with PyTorch's packed projections: queries from `x`, keys and values
 *        from a memory projected once into a `kv_cache` (`prepare`).
 */
template <index_t Hidden, index_t Heads, index_t MemoryWidth = Hidden>
struct packed_attention {
    static constexpr index_t head_dim = Hidden / Heads;
    static constexpr bool packed = MemoryWidth == Hidden;
    static_assert(Hidden % Heads == 0, "packed_attention: the width must divide into the heads");
    using cache = kv_cache<Heads, head_dim>;

    [[no_unique_address]] std::conditional_t<packed, tensor<float, shape<3 * Hidden, Hidden>>,
                                             detail::absent>
        in_proj_weight;
    [[no_unique_address]] std::conditional_t<!packed, tensor<float, shape<Hidden, Hidden>>,
                                             detail::absent>
        q_proj_weight;
    [[no_unique_address]] std::conditional_t<!packed, tensor<float, shape<Hidden, MemoryWidth>>,
                                             detail::absent>
        k_proj_weight, v_proj_weight;
    tensor<float, shape<3 * Hidden>> in_proj_bias;
    linear<Hidden, Hidden, true> out_proj;

    /// Projects `memory` (`[Lm, MemoryWidth]`) into `kv`, which is reset first.
    template <class TM, tensor_shape SM>
    void prepare(tensor_view<TM, SM> memory, cache& kv) const {
        tensor<float, shape<dyn, Hidden>> keys(memory.rows());
        tensor<float, shape<dyn, Hidden>> values(memory.rows());
        matmul_bt(memory, weight(1), bias(1), keys.view());
        matmul_bt(memory, weight(2), bias(2), values.view());
        kv.reset();
        kv.append(keys.view(), values.view());
    }

    /// `q = x W_q^T + b_q` for `x.rows()` queries.
    template <class TX, tensor_shape SX, tensor_shape SQ>
    void project_queries(tensor_view<TX, SX> x, tensor_view<float, SQ> q) const {
        matmul_bt(x, query_weight(), bias(0), q);
    }

    /// `y (+)= out(attention(q, memory))` for projected queries `q`.
    template <class TQ, tensor_shape SQ, tensor_shape SY, attention_mask M>
    void attend(tensor_view<TQ, SQ> q, tensor_view<float, SY> y, bool accumulate, const cache& kv,
                const M& mask, const attention_params& params,
                tensor_view<float, shape<dyn, Hidden>> context) const {
        auto ctx = context.rows(0, q.rows());
        // Every query sees the whole memory: position the queries after its last key.
        attention_heads(tensor_view<const float, shape<dyn, Hidden>>(q), kv, ctx, mask, no_bias{},
                        no_transform{}, params.with_q_offset(kv.length()), Heads);
        out_proj.forward(tensor_view<const float, shape<dyn, Hidden>>(ctx), y, accumulate);
    }

    /// `y (+)= out(attention(q(x), memory))`.
    template <class TX, tensor_shape SX, tensor_shape SY, attention_mask M>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> y, bool accumulate, const cache& kv,
                 const M& mask, const attention_params& params,
                 tensor_view<float, shape<dyn, Hidden>> q_buffer,
                 tensor_view<float, shape<dyn, Hidden>> context) const {
        auto q = q_buffer.rows(0, x.rows());
        project_queries(x, q);
        attend(tensor_view<const float, shape<dyn, Hidden>>(q), y, accumulate, kv, mask, params,
               context);
    }

    /// PyTorch's names under `prefix` (`attn.`): `in_proj_weight` or the three `*_proj_weight`,
    /// `in_proj_bias`, `out_proj.`.
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        if constexpr (packed) {
            v.parameter(prefix + "in_proj_weight", in_proj_weight.view());
        } else {
            v.parameter(prefix + "q_proj_weight", q_proj_weight.view());
            v.parameter(prefix + "k_proj_weight", k_proj_weight.view());
            v.parameter(prefix + "v_proj_weight", v_proj_weight.view());
        }
        v.parameter(prefix + "in_proj_bias", in_proj_bias.view());
        out_proj.visit_parameters(v, prefix + "out_proj.");
    }

private:
    [[nodiscard]] tensor_view<const float, shape<Hidden, Hidden>> query_weight() const {
        if constexpr (packed) {
            return tensor_view<const float, shape<Hidden, Hidden>>(in_proj_weight.data(), {});
        } else {
            return q_proj_weight.view();
        }
    }
    /// The key (1) or value (2) projection.
    [[nodiscard]] tensor_view<const float, shape<Hidden, MemoryWidth>> weight(index_t part) const {
        if constexpr (packed) {
            return tensor_view<const float, shape<Hidden, MemoryWidth>>(
                in_proj_weight.data() + part * Hidden * Hidden, {});
        } else {
            return part == 1 ? k_proj_weight.view() : v_proj_weight.view();
        }
    }
    [[nodiscard]] tensor_view<const float, shape<Hidden>> bias(index_t part) const {
        return tensor_view<const float, shape<Hidden>>(in_proj_bias.data() + part * Hidden, {});
    }
};

/**
 * @brief `Queries` learned queries attending to a sequence: `attn(ln_q(query), ln_k(x))`
 *        (open_clip's `AttentionalPooler`, CoCa's image pooler). Names: `query`, `ln_q.`,
 *        `ln_k.`, `attn.`.
 *
 * The queries do not depend on the input: their norm and projection are computed once, at load
 * (`finish_loading`), and every call only projects and attends to its sequence.
 */
template <index_t Width, index_t Heads, index_t Queries, index_t ContextWidth = Width>
struct attentional_pooler {
    static constexpr index_t width = Width;
    static constexpr index_t queries = Queries;
    using attention_type = packed_attention<Width, Heads, ContextWidth>;

    tensor<float, shape<Queries, Width>> query;
    layer_norm_block<Width> ln_q;
    layer_norm_block<ContextWidth> ln_k;
    attention_type attn;

    /// The pooled `[Queries, Width]` of one sequence `x` (`[L, ContextWidth]`).
    template <class TX, tensor_shape SX, tensor_shape SY>
    void forward(tensor_view<TX, SX> x, tensor_view<float, SY> out) const {
        if (projected_.rows() != Queries) {
            throw value_error("attentional_pooler: the queries are projected by load_parameters "
                              "(finish_loading was not called)");
        }
        tensor<float, shape<dyn, ContextWidth>> keys(x.rows());
        ln_k.forward(x, keys.view());
        typename attention_type::cache kv(x.rows());
        attn.prepare(tensor_view<const float, shape<dyn, ContextWidth>>(keys.view()), kv);
        tensor<float, shape<dyn, Width>> context(Queries);
        attn.attend(tensor_view<const float, shape<dyn, Width>>(projected_.view()), out, false, kv,
                    no_mask{}, attention_params{}, context.view());
    }

    /// Normalises and projects the learned queries once.
    void finish_loading() {
        tensor<float, shape<dyn, Width>> normed(Queries);
        ln_q.forward(tensor_view<const float, shape<Queries, Width>>(query.view()), normed.view());
        projected_ = tensor<float, shape<dyn, Width>>(Queries);
        attn.project_queries(tensor_view<const float, shape<dyn, Width>>(normed.view()),
                             projected_.view());
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "query", query.view());
        ln_q.visit_parameters(v, prefix + "ln_q.");
        ln_k.visit_parameters(v, prefix + "ln_k.");
        attn.visit_parameters(v, prefix + "attn.");
    }

private:
    tensor<float, shape<dyn, Width>> projected_;
};

} // namespace ctt
