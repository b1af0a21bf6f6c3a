#pragma once
/**
 * @file
 * @brief `kv_cache<KvHeads, HeadDim, Storage>`: keys and values of past tokens for incremental
 *        decoding, in `float` or (half the bytes) bfloat16 or IEEE binary16. Capacity is fixed
 *        at construction (storage never moves or grows), the length is a runtime value, and
 *        appending past the capacity throws.
 *
 * Storage is head-major (`[KvHeads][capacity][HeadDim]`), so the decode path streams each
 * head's keys and values as one contiguous block. A reduced-precision cache rounds each key
 * (after its transform) and value to nearest even once, on append; the kernels widen them
 * exactly in registers and compute in `float`, so attention over a `bf16` cache equals, bit for
 * bit, attention over `float` keys and values holding the rounded numbers. Long-context decode
 * is bound by reading K and V, which the reduced types halve.
 */

#include <array>
#include <cstddef>
#include <cstring>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/detail/attention_views.hpp"
#include "ctt/attention/detail/kv_elements.hpp"
#include "ctt/attention/detail/online_softmax.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/weight_type.hpp"

namespace ctt {

/**
 * @brief Keys and values of one attention layer, `KvHeads` heads of `HeadDim`.
 *
 * Key j of the cache sits at absolute position j. `append` takes the new rows as `[n,
 * KvHeads*HeadDim]` projections (heads as column blocks) and may apply a key transform
 * (rotary) at each row's absolute position, so that keys are transformed exactly once.
 */
template <index_t KvHeads, index_t HeadDim, weight_type Storage = weight_type::f32>
class kv_cache {
public:
    static constexpr index_t kv_heads = KvHeads;
    static constexpr index_t head_dim = HeadDim;
    static constexpr index_t width = KvHeads * HeadDim;
    static_assert(KvHeads > 0 && HeadDim > 0, "kv_cache: heads and head dimension must be > 0");
    static_assert(detail::is_kv_element_v<Storage>,
                  "kv_cache: keys and values are stored as f32, bf16 or f16");
    /// How keys and values are held: `f32`, `bf16` or `f16`.
    static constexpr weight_type storage = Storage;
    /// The stored element: `float`, or the 16-bit pattern of a reduced type.
    using element_type = detail::kv_storage_t<Storage>;

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
                const float* k = &k_rows(i, h * HeadDim);
                const float* v = &v_rows(i, h * HeadDim);
                if constexpr (Storage == weight_type::f32) {
                    float* kd = key_row(h, pos);
                    std::memcpy(kd, k, HeadDim * sizeof(float));
                    if constexpr (!is_no_transform_v<T>) {
                        k_transform.apply(pos, kd, HeadDim);
                    }
                } else if constexpr (is_no_transform_v<T>) {
                    detail::kv_narrow_row<Storage>(k, HeadDim, key_row(h, pos));
                } else {
                    // The transform runs in float; the key is rounded once, after it.
                    std::array<float, HeadDim> kd;
                    std::memcpy(kd.data(), k, HeadDim * sizeof(float));
                    k_transform.apply(pos, kd.data(), HeadDim);
                    detail::kv_narrow_row<Storage>(kd.data(), HeadDim, key_row(h, pos));
                }
                detail::kv_narrow_row<Storage>(v, HeadDim, value_row(h, pos));
            }
        }
        length_ += n;
    }

    /// The first `length()` keys of head `h`, `[length, HeadDim]`, as stored (floats, or the
    /// bit patterns of a reduced type: see `key`).
    [[nodiscard]] tensor_view<const element_type, shape<dyn, HeadDim>> keys(index_t h) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, h + 1, KvHeads);
        return {keys_.data() + h * capacity_ * HeadDim, shape<dyn, HeadDim>{length_}};
    }
    /// The first `length()` values of head `h`, `[length, HeadDim]`, as stored.
    [[nodiscard]] tensor_view<const element_type, shape<dyn, HeadDim>> values(index_t h) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, h + 1, KvHeads);
        return {values_.data() + h * capacity_ * HeadDim, shape<dyn, HeadDim>{length_}};
    }
    /// Element `d` of the key of head `h` at position `pos`, widened to float (exact).
    [[nodiscard]] float key(index_t h, index_t pos, index_t d) const {
        return detail::kv_element<Storage>::widen(keys(h)(pos, d));
    }
    /// Element `d` of the value of head `h` at position `pos`, widened to float (exact).
    [[nodiscard]] float value(index_t h, index_t pos, index_t d) const {
        return detail::kv_element<Storage>::widen(values(h)(pos, d));
    }
    /// Bytes of keys and values the cache holds at capacity.
    [[nodiscard]] std::size_t bytes() const noexcept {
        return 2 * static_cast<std::size_t>(KvHeads * capacity_ * HeadDim) * sizeof(element_type);
    }

    /// Where the kernels find the cached rows.
    [[nodiscard]] detail::kv_source<Storage> source() const noexcept {
        return {keys_.data(),        values_.data(),      HeadDim, HeadDim,
                capacity_ * HeadDim, capacity_ * HeadDim, length_};
    }

private:
    element_type* key_row(index_t h, index_t pos) noexcept {
        return keys_.data() + (h * capacity_ + pos) * HeadDim;
    }
    element_type* value_row(index_t h, index_t pos) noexcept {
        return values_.data() + (h * capacity_ + pos) * HeadDim;
    }

    index_t capacity_;
    index_t length_ = 0;
    tensor<element_type, shape<dyn, HeadDim>> keys_;
    tensor<element_type, shape<dyn, HeadDim>> values_;
};

/**
 * @brief One `kv_cache` per layer of a decoder, all of the same capacity.
 */
template <index_t Layers, index_t KvHeads, index_t HeadDim, weight_type Storage = weight_type::f32>
class layered_kv_cache {
public:
    static constexpr index_t layers = Layers;
    static constexpr weight_type storage = Storage;
    using layer_type = kv_cache<KvHeads, HeadDim, Storage>;

    explicit layered_kv_cache(index_t capacity) {
        layers_.reserve(Layers);
        for (index_t i = 0; i < Layers; ++i) {
            layers_.emplace_back(capacity);
        }
    }
    [[nodiscard]] layer_type& operator[](index_t layer) {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, layer + 1, Layers);
        return layers_[layer];
    }
    [[nodiscard]] const layer_type& operator[](index_t layer) const {
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
    std::vector<layer_type> layers_;
    const void* owner_ = nullptr;
};

} // namespace ctt
