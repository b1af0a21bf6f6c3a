#pragma once
/**
 * @file
 * @brief Transformer-XL (Dai et al. 2019, arXiv:1901.02860) as the original
 *        kimiyoung/transformer-xl `MemTransformerLM` computes it with `attn_type = 0`
 *        (parameter names its own): a language model over segments with a memory.
 *
 * - Embeddings: `word_emb` times `sqrt(d_model)`; no absolute positions.
 * - Layers: relative attention (`relative_attention_block`: `qkv_net`, `r_net`, `o_net`; the
 *   u / v biases `r_w_bias`, `r_r_bias` shared by every layer) over `[memory | segment]`, under
 *   a causal mask in which every query sees the whole memory; then the position-wise
 *   feed-forward (`CoreNet`, ReLU). Post-LN by default (`x = LN(x + f(x))`), pre-LN with
 *   `pre_lnorm`.
 * - Positions: the sinusoids of the key distances `klen - 1 .. 0`, clamped to `clamp_len` when
 *   it is positive, projected per layer by `r_net`.
 * - Memory (`segment_memory`): each layer keeps the last `mem_len` inputs it received.
 * - Output: `crit.out_layers.0`, its weight tied to `word_emb` with `tie_weight`.
 *
 * Tensors are `[batch, length]` here; the reference's are `[length, batch]`.
 */

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/blocks/relative_attention.hpp"
#include "ctt/blocks/segment_memory.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/sinusoidal.hpp"

namespace ctt {

/// What a Transformer-XL configuration provides (`MemTransformerLM`'s arguments).
template <class C>
concept transfo_xl_config = requires {
    { C::n_token } -> std::convertible_to<index_t>;
    { C::n_layer } -> std::convertible_to<index_t>;
    { C::n_head } -> std::convertible_to<index_t>;
    { C::d_model } -> std::convertible_to<index_t>;
    { C::d_head } -> std::convertible_to<index_t>;
    { C::d_inner } -> std::convertible_to<index_t>;
    { C::mem_len } -> std::convertible_to<index_t>;
    { C::clamp_len } -> std::convertible_to<int>;
    { C::pre_lnorm } -> std::convertible_to<bool>;
    { C::tie_weight } -> std::convertible_to<bool>;
};

/** @brief A Transformer-XL language model: logits per token, segment by segment. */
template <transfo_xl_config C>
class transfo_xl {
public:
    using config = C;
    static constexpr index_t hidden = C::d_model;
    static constexpr index_t vocab = C::n_token;
    static constexpr index_t heads = C::n_head;
    static constexpr index_t head_dim = C::d_head;
    static constexpr index_t layers = C::n_layer;
    static constexpr index_t width = heads * head_dim;
    static_assert(hidden % 2 == 0, "transfo_xl: d_model must be even (sine and cosine halves)");

    using memory_type = segment_memory<hidden>;
    using attention_type =
        relative_attention_block<hidden, heads, head_dim,
                                 fused_qkv<hidden, width, width, false, weight_layout::out_in>>;

    /// One `RelPartialLearnableDecoderLayer`.
    struct layer {
        attention_type attention;
        layer_norm_block<hidden> attention_norm;
        feed_forward<hidden, C::d_inner, activation::relu, true> ff;
        layer_norm_block<hidden> ff_norm;
    };

    transfo_xl()
        : layers_(layers) {}

    /// An empty memory for `batch` sequences, keeping `mem_len` tokens per layer.
    [[nodiscard]] memory_type new_memory(index_t batch) const {
        return memory_type(layers, batch, index_t{C::mem_len});
    }

    /**
     * @brief The last layer's states of the segment `ids` (`[batch, length]`), `[batch *
     *        length, hidden]`, attending over `memory`, which then holds this segment too.
     * @throws shape_error when the memory is for another batch; value_error for an id outside
     *         the vocabulary.
     */
    [[nodiscard]] tensor<float, shape<dyn, hidden>> forward_hidden(token_ids ids,
                                                                   memory_type& memory) const {
        const index_t batch = ids.rows();
        const index_t length = ids.cols();
        detail::check_dims("transfo_xl: memory batch and batch differ", memory.batch(), batch);
        detail::check_dims("transfo_xl: memory layers and n_layer differ", memory.layers(), layers);
        const index_t mlen = memory.length();
        const index_t klen = mlen + length;
        rows x(batch * length);
        for (index_t b = 0; b < batch; ++b) {
            embedding_lookup(word_embedding_.view(), sequence(ids, b),
                             x.view().rows(b * length, length));
        }
        scale(x.view(), std::sqrt(static_cast<float>(hidden)));
        if (length == 0) {
            return x;
        }
        rows sinusoids(klen);
        xl_relative_positions(sinusoids.view(), static_cast<std::ptrdiff_t>(klen) - 1,
                              C::clamp_len);
        tensor<float, shape<dyn, width>> positions(klen);
        rows inputs(klen);
        rows normed(C::pre_lnorm ? klen : 0);
        rows scratch(C::pre_lnorm ? batch * length : 0);
        tensor<float, shape<dyn, C::d_inner>> ffn_scratch(batch * length);
        typename attention_type::workspace ws(klen);
        const relative_terms terms{{content_bias_.data(), width},
                                   {position_bias_.data(), width},
                                   make_matrix_ref(positions),
                                   static_cast<std::ptrdiff_t>(klen) - 1};
        for (index_t l = 0; l < layers; ++l) {
            const layer& ly = layers_[l];
            ly.attention.project_positions(tensor_view<const float, shape<dyn, hidden>>(sinusoids),
                                           positions.view());
            for (index_t b = 0; b < batch; ++b) {
                auto xb = x.view().rows(b * length, length);
                const auto mem = memory.states(l, b);
                std::copy_n(mem.data(), mlen * hidden, inputs.data());
                std::copy_n(xb.data(), length * hidden, inputs[mlen].data());
                memory.update(l, b, inputs.view());
                const auto keys = tensor_view<const float, shape<dyn, hidden>>(inputs);
                // Query i sits at position mlen + i and sees keys 0 .. mlen + i.
                if constexpr (C::pre_lnorm) {
                    ly.attention_norm.forward(keys, normed.view());
                    ly.attention.forward(tensor_view<const float, shape<dyn, hidden>>(normed),
                                         length, terms, causal_mask{}, xb, true, ws);
                } else {
                    ly.attention.forward(keys, length, terms, causal_mask{}, xb, true, ws);
                }
            }
            const auto cx = tensor_view<const float, shape<dyn, hidden>>(x);
            if constexpr (C::pre_lnorm) {
                ly.ff_norm.forward(cx, scratch.view());
                ly.ff.forward(tensor_view<const float, shape<dyn, hidden>>(scratch), x.view(), true,
                              ffn_scratch.view());
            } else {
                ly.attention_norm.forward(cx, x.view());
                ly.ff.forward(cx, x.view(), true, ffn_scratch.view());
                ly.ff_norm.forward(cx, x.view());
            }
        }
        return x;
    }

    /// Logits of the segment `ids`, `[batch * length, vocab]` (row `b * length + t`).
    [[nodiscard]] tensor<float, shape<dyn, vocab>> forward(token_ids ids,
                                                           memory_type& memory) const {
        const auto h = forward_hidden(ids, memory);
        tensor<float, shape<dyn, vocab>> logits(h.rows());
        const auto ch = tensor_view<const float, shape<dyn, hidden>>(h.view());
        if constexpr (C::tie_weight) {
            matmul_bt(ch, word_embedding_.view(), output_bias_.view(), logits.view());
        } else {
            matmul_bt(ch, output_weight_.view(), output_bias_.view(), logits.view());
        }
        return logits;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "word_emb.emb_layers.0.weight", word_embedding_.view());
        v.parameter(prefix + "r_w_bias", content_bias_.view());
        v.parameter(prefix + "r_r_bias", position_bias_.view());
        v.ignore(prefix + "pos_emb.inv_freq"); // recomputed in float32 as PyTorch does
        for (index_t i = 0; i < layers; ++i) {
            auto& ly = layers_[i];
            const std::string p = prefix + "layers." + std::to_string(i) + ".";
            ly.attention.projection.qkv.visit_parameters(v, p + "dec_attn.qkv_net.");
            ly.attention.r.visit_parameters(v, p + "dec_attn.r_net.");
            ly.attention.out.visit_parameters(v, p + "dec_attn.o_net.");
            ly.attention_norm.visit_parameters(v, p + "dec_attn.layer_norm.");
            ly.ff.up.visit_parameters(v, p + "pos_ff.CoreNet.0.");
            ly.ff.down.visit_parameters(v, p + "pos_ff.CoreNet.3.");
            ly.ff_norm.visit_parameters(v, p + "pos_ff.layer_norm.");
        }
        if constexpr (C::tie_weight) {
            v.ignore(prefix + "crit.out_layers.0.weight");
        } else {
            v.parameter(prefix + "crit.out_layers.0.weight", output_weight_.view());
        }
        v.parameter(prefix + "crit.out_layers.0.bias", output_bias_.view());
    }

private:
    using rows = tensor<float, shape<dyn, hidden>>;

    tensor<float, shape<vocab, hidden>> word_embedding_;
    tensor<float, shape<heads, head_dim>> content_bias_;  ///< u
    tensor<float, shape<heads, head_dim>> position_bias_; ///< v
    std::vector<layer> layers_;
    [[no_unique_address]] std::conditional_t<C::tie_weight, detail::absent,
                                             tensor<float, shape<vocab, hidden>>>
        output_weight_;
    tensor<float, shape<vocab>> output_bias_;
};

} // namespace ctt
