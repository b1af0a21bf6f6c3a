#pragma once
/**
 * @file
 * @brief `kv_cache<KvHeads, HeadDim>`: keys and values of past tokens for incremental
 *        decoding. Capacity is fixed at construction (storage never moves or grows), the
 *        length is a runtime value, and appending past the capacity throws.
 *
 * Storage is head-major (`[KvHeads][capacity][HeadDim]`), so the decode path streams each
 * head's keys and values as one contiguous block.
 */

#include <array>
#include <cstring>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/attention_views.hpp"
#include "ctt/attention/detail/online_softmax.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"

namespace ctt {

/**
 * @brief Keys and values of one attention layer, `KvHeads` heads of `HeadDim`.
 *
 * Key j of the cache sits at absolute position j. `append` takes the new rows as `[n,
 * KvHeads*HeadDim]` projections (heads as column blocks) and may apply a key transform
 * (rotary) at each row's absolute position, so that keys are transformed exactly once.
 */
template <index_t KvHeads, index_t HeadDim>
class kv_cache {
public:
    static constexpr index_t kv_heads = KvHeads;
    static constexpr index_t head_dim = HeadDim;
    static constexpr index_t width = KvHeads * HeadDim;
    static_assert(KvHeads > 0 && HeadDim > 0, "kv_cache: heads and head dimension must be > 0");

    /// An empty cache holding at most `capacity` tokens.
    explicit kv_cache(index_t capacity)
        : capacity_(capacity)
        , keys_(KvHeads * capacity)
        , values_(KvHeads * capacity) {}

    [[nodiscard]] index_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] index_t length() const noexcept { return length_; }
    /// Forgets every token (a new sequence); storage is kept.
    void reset() noexcept { length_ = 0; }

    /**
     * @brief Appends `n` tokens: `k_rows`, `v_rows` are `[n, KvHeads*HeadDim]`. Throws
     *        `shape_error` (`CTT_MSG_KV_CAPACITY`) before writing anything when the cache
     *        would overflow.
     */
    template <detail::float_matrix_view K, detail::float_matrix_view V,
              qk_transform T = no_transform>
    void append(const K& k_rows, const V& v_rows, const T& k_transform = {}) {
        CTT_CHECK_DIMS(CTT_MSG_ATTENTION_HEAD_DIM, detail::static_cols_v<K>, width, k_rows.cols(),
                       width);
        CTT_CHECK_DIMS(CTT_MSG_ATTENTION_HEAD_DIM, detail::static_cols_v<V>, width, v_rows.cols(),
                       width);
        detail::check_dims(CTT_MSG_ATTENTION_KV_LEN, k_rows.rows(), v_rows.rows());
        const index_t n = k_rows.rows();
        detail::check_at_most(CTT_MSG_KV_CAPACITY, length_ + n, capacity_);
        for (index_t i = 0; i < n; ++i) {
            const index_t pos = length_ + i;
            for (index_t h = 0; h < KvHeads; ++h) {
                float* kd = key_row(h, pos);
                std::memcpy(kd, &k_rows(i, h * HeadDim), HeadDim * sizeof(float));
                if constexpr (!is_no_transform_v<T>) {
                    k_transform.apply(pos, kd, HeadDim);
                }
                std::memcpy(value_row(h, pos), &v_rows(i, h * HeadDim), HeadDim * sizeof(float));
            }
        }
        length_ += n;
    }

    /// The first `length()` keys of head `h`, `[length, HeadDim]`.
    [[nodiscard]] tensor_view<const float, shape<dyn, HeadDim>> keys(index_t h) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, h + 1, KvHeads);
        return {keys_.data() + h * capacity_ * HeadDim, shape<dyn, HeadDim>{length_}};
    }
    /// The first `length()` values of head `h`, `[length, HeadDim]`.
    [[nodiscard]] tensor_view<const float, shape<dyn, HeadDim>> values(index_t h) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, h + 1, KvHeads);
        return {values_.data() + h * capacity_ * HeadDim, shape<dyn, HeadDim>{length_}};
    }

    /// Where the kernels find the cached rows.
    [[nodiscard]] detail::kv_source source() const noexcept {
        return {keys_.data(),        values_.data(),      HeadDim, HeadDim,
                capacity_ * HeadDim, capacity_ * HeadDim, length_};
    }

private:
    float* key_row(index_t h, index_t pos) noexcept {
        return keys_.data() + (h * capacity_ + pos) * HeadDim;
    }
    float* value_row(index_t h, index_t pos) noexcept {
        return values_.data() + (h * capacity_ + pos) * HeadDim;
    }

    index_t capacity_;
    index_t length_ = 0;
    tensor<float, shape<dyn, HeadDim>> keys_;
    tensor<float, shape<dyn, HeadDim>> values_;
};

/**
 * @brief One `kv_cache` per layer of a decoder, all of the same capacity.
 */
template <index_t Layers, index_t KvHeads, index_t HeadDim>
class layered_kv_cache {
public:
    static constexpr index_t layers = Layers;

    explicit layered_kv_cache(index_t capacity) {
        layers_.reserve(Layers);
        for (index_t i = 0; i < Layers; ++i) {
            layers_.emplace_back(capacity);
        }
    }
    [[nodiscard]] kv_cache<KvHeads, HeadDim>& operator[](index_t layer) {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, layer + 1, Layers);
        return layers_[layer];
    }
    [[nodiscard]] const kv_cache<KvHeads, HeadDim>& operator[](index_t layer) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, layer + 1, Layers);
        return layers_[layer];
    }
    /// Tokens held (the same in every layer once a step has run through all of them).
    [[nodiscard]] index_t length() const noexcept { return layers_.front().length(); }
    void reset() noexcept {
        for (auto& layer : layers_) {
            layer.reset();
        }
    }
    /// The model whose `new_session` made these caches (null for caches made directly): a
    /// model refuses the sessions of another, whose keys and values it would read as its own.
    [[nodiscard]] const void* owner() const noexcept { return owner_; }
    void set_owner(const void* model) noexcept { owner_ = model; }

private:
    std::vector<kv_cache<KvHeads, HeadDim>> layers_;
    const void* owner_ = nullptr;
};

} // namespace ctt
