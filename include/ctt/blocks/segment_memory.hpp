#pragma once
/**
 * @file
 * @brief `segment_memory`: the recurrence of Transformer-XL (Dai et al. 2019, arXiv:1901.02860,
 *        section 3.2; kimiyoung/transformer-xl `MemTransformerLM._update_mems`) and XLNet
 *        (HF's `XLNetModel.cache_mem`).
 *
 * Each layer keeps the hidden states that entered it for the last `capacity` tokens, before
 * any projection: the next segment's layer attends over `[memory | segment]`, projecting the
 * memory with its own K/V weights. This is not a KV cache (`attention/kv_cache.hpp`), which
 * holds keys and values already projected for one set of weights and grows by one token per
 * decode step; here a whole segment enters at once and the oldest states leave.
 */

#include <algorithm>
#include <optional>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

/**
 * @brief Per layer and batch row, the last `capacity` hidden states (`Hidden` wide) that
 *        entered the layer.
 *
 * A capacity of `std::nullopt` keeps every state (XLNet with `mem_len` unset); a capacity of 0
 * keeps none (Transformer-XL with `mem_len = 0`).
 */
template <index_t Hidden>
class segment_memory {
public:
    static constexpr index_t width = Hidden;

    segment_memory(index_t layers, index_t batch, std::optional<index_t> capacity)
        : layers_(layers)
        , batch_(batch)
        , capacity_(capacity)
        , lengths_(layers, 0)
        , states_(layers * batch) {}

    [[nodiscard]] index_t layers() const noexcept { return layers_; }
    [[nodiscard]] index_t batch() const noexcept { return batch_; }
    [[nodiscard]] std::optional<index_t> capacity() const noexcept { return capacity_; }
    /// Tokens held for layer `layer` (the same for every batch row).
    [[nodiscard]] index_t length(index_t layer) const {
        check_layer(layer);
        return lengths_[layer];
    }
    /// Tokens held by the first layer: the memory length the next segment sees.
    [[nodiscard]] index_t length() const noexcept { return layers_ == 0 ? 0 : lengths_[0]; }

    /// The states held for `layer` and batch row `b`, oldest first: `[length(layer), Hidden]`.
    [[nodiscard]] tensor_view<const float, shape<dyn, Hidden>> states(index_t layer,
                                                                      index_t b) const {
        check_layer(layer);
        detail::check_at_most("segment_memory: batch row and batch differ", b + 1, batch_);
        return {states_[layer * batch_ + b].data(), shape<dyn, Hidden>(lengths_[layer])};
    }

    /**
     * @brief Keeps the last `capacity` rows of `inputs`, the whole input of `layer` for batch row
     *        `b` this segment (its old memory followed by the segment). Every batch row of a
     *        layer must be given the same number of rows.
     */
    template <class T, tensor_shape S>
    void update(index_t layer, index_t b, tensor_view<T, S> inputs) {
        check_layer(layer);
        detail::check_at_most("segment_memory: batch row and batch differ", b + 1, batch_);
        detail::check_dims("segment_memory: input width and Hidden differ", inputs.cols(), Hidden);
        const index_t n = inputs.rows();
        const index_t keep = capacity_ ? std::min(*capacity_, n) : n;
        auto& dst = states_[layer * batch_ + b];
        dst.resize(keep * Hidden);
        for (index_t r = 0; r < keep; ++r) {
            std::copy_n(inputs[n - keep + r].data(), Hidden, dst.data() + r * Hidden);
        }
        if (b == 0) {
            lengths_[layer] = keep;
        } else {
            detail::check_dims("segment_memory: batch rows of a layer hold different lengths", keep,
                               lengths_[layer]);
        }
    }

    /// Forgets everything (a new document).
    void clear() {
        std::fill(lengths_.begin(), lengths_.end(), index_t{0});
        for (auto& s : states_) {
            s.clear();
        }
    }

private:
    void check_layer(index_t layer) const {
        detail::check_at_most("segment_memory: layer and layers differ", layer + 1, layers_);
    }

    index_t layers_;
    index_t batch_;
    std::optional<index_t> capacity_;
    std::vector<index_t> lengths_;
    std::vector<std::vector<float>> states_;
};

} // namespace ctt
