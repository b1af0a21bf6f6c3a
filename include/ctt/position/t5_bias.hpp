#pragma once
/**
 * @file
 * @brief T5's bucketed relative position bias (Raffel et al. 2019, arXiv:1910.10683,
 *        section 2.1; HF `T5Attention._relative_position_bucket` and `compute_bias`) as a
 *        `score_bias`.
 *
 * The relative position is `key_pos - query_pos`. Bidirectional attention (encoder) spends half
 * of the buckets on each sign; causal attention (decoder, LaMDA) maps every key after the
 * query to bucket 0. Within a half, distances below `max_exact = buckets/2` get their own
 * bucket; longer ones share logarithmically wider buckets up to `max_distance`, after which
 * everything falls into the last bucket.
 *
 * The bias table (HF `relative_attention_bias.weight`, `[num_buckets, n_heads]`) belongs to the
 * first layer and is shared by all layers of the stack; the bias does not depend on the input,
 * so one `t5_relative_bias` built at load time serves every layer and every call. T5 uses no
 * 1/sqrt(d) scale: run the kernel with scale 1.
 */

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/**
 * @brief HF's `_relative_position_bucket` for one relative position (`key - query`), with the
 *        logarithmic part computed in float32 as PyTorch does: `log(float(d) / max_exact)`, divided
 *        by the float of the double `log(max_distance / max_exact)`, times
 *        `num_buckets - max_exact`, truncated.
 */
[[nodiscard]] inline index_t t5_relative_position_bucket(std::ptrdiff_t relative_position,
                                                         bool bidirectional, index_t num_buckets,
                                                         index_t max_distance) {
    index_t bucket = 0;
    index_t nb = num_buckets;
    index_t dist = 0;
    if (bidirectional) {
        nb /= 2;
        if (relative_position > 0) {
            bucket += nb;
        }
        dist = static_cast<index_t>(relative_position < 0 ? -relative_position : relative_position);
    } else {
        dist = relative_position < 0 ? static_cast<index_t>(-relative_position) : 0;
    }
    const index_t max_exact = nb / 2;
    if (dist < max_exact) {
        return bucket + dist;
    }
    const auto log_ratio = static_cast<float>(
        std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
    const float scaled = static_cast<float>(std::log(static_cast<double>(
                             static_cast<float>(dist) / static_cast<float>(max_exact)))) /
                         log_ratio * static_cast<float>(nb - max_exact);
    const index_t large = std::min(max_exact + static_cast<index_t>(scaled), nb - 1);
    return bucket + large;
}

/**
 * @brief T5's relative position bias: `row[t] += weight[bucket(k_begin + t - q_pos), head]`.
 *
 * At construction the bias of every head is tabulated per relative position over
 * `[-R, R]`, `R = max(max_distance, num_buckets)`, beyond which the bucket no longer changes;
 * `add` is then a clamped contiguous copy-add of one head's table.
 */
class t5_relative_bias {
public:
    /**
     * @param weight        `[num_buckets, num_heads]` (HF `relative_attention_bias.weight`).
     * @param bidirectional true for the encoder, false for the decoder's self-attention.
     * @param max_distance  HF `relative_attention_max_distance` (128 by default).
     */
    template <class T, index_t NB, index_t NH>
    requires(std::same_as<std::remove_const_t<T>, float>)
        t5_relative_bias(tensor_view<T, shape<NB, NH>> weight, bool bidirectional,
                         index_t max_distance = 128)
        : num_buckets_(weight.rows())
        , num_heads_(weight.cols())
        , bidirectional_(bidirectional)
        , max_distance_(max_distance)
        , range_(std::max(max_distance, num_buckets_))
        , span_(2 * range_ + 1)
        , table_(num_heads_ * span_)
        , reversed_(num_heads_ * span_) {
        if (num_buckets_ < 2) {
            throw value_error("t5_relative_bias: num_buckets must be at least 2");
        }
        for (index_t r = 0; r < span_; ++r) {
            const auto rel = static_cast<std::ptrdiff_t>(r) - static_cast<std::ptrdiff_t>(range_);
            const index_t b =
                t5_relative_position_bucket(rel, bidirectional_, num_buckets_, max_distance_);
            for (index_t h = 0; h < num_heads_; ++h) {
                table_[h * span_ + r] = weight(b, h);
                reversed_[h * span_ + (span_ - 1 - r)] = weight(b, h);
            }
        }
    }

    [[nodiscard]] index_t num_buckets() const noexcept { return num_buckets_; }
    [[nodiscard]] index_t num_heads() const noexcept { return num_heads_; }
    [[nodiscard]] bool bidirectional() const noexcept { return bidirectional_; }
    [[nodiscard]] index_t max_distance() const noexcept { return max_distance_; }

    /// The bias of `head` for the relative position `key - query`.
    [[nodiscard]] float value(index_t head, std::ptrdiff_t relative_position) const noexcept {
        const auto r =
            std::clamp<std::ptrdiff_t>(relative_position, -static_cast<std::ptrdiff_t>(range_),
                                       static_cast<std::ptrdiff_t>(range_));
        return table_[head * span_ + static_cast<index_t>(r + static_cast<std::ptrdiff_t>(range_))];
    }

    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        // Entry i of a head's table is the relative position i - range; key k_begin + t is
        // at k_begin + t - q_pos.
        add_clamped(table_.data() + head * span_, signed_index(k_begin) - signed_index(q_pos), n,
                    row);
    }

    /// `col[t] += bias(head, q_begin + t, k_pos)`: down a key's column the relative position
    /// decreases, so this reads the reversed table (entry i: relative position range - i).
    void add_column(index_t head, index_t k_pos, index_t q_begin, index_t n, float* col) const {
        add_clamped(reversed_.data() + head * span_, signed_index(q_begin) - signed_index(k_pos), n,
                    col);
    }

private:
    [[nodiscard]] static std::ptrdiff_t signed_index(index_t i) noexcept {
        return static_cast<std::ptrdiff_t>(i);
    }

    /// `row[t] += table[clamp(offset + range + t, 0, span - 1)]` for `t < n`.
    void add_clamped(const float* table, std::ptrdiff_t offset, index_t n, float* row) const {
        const std::ptrdiff_t first = offset + signed_index(range_);
        const auto nn = static_cast<std::ptrdiff_t>(n);
        const auto last = static_cast<std::ptrdiff_t>(span_) - 1;
        // Before the table: its first entry.
        const std::ptrdiff_t low_end = std::clamp<std::ptrdiff_t>(-first, 0, nn);
        for (std::ptrdiff_t t = 0; t < low_end; ++t) {
            row[t] += table[0];
        }
        // Within the table: one contiguous slice.
        const std::ptrdiff_t mid_end = std::clamp<std::ptrdiff_t>(last + 1 - first, low_end, nn);
        const auto mid_n = static_cast<index_t>(mid_end - low_end);
        if (mid_n > 0) {
            float* dst = row + low_end;
            const float* src = table + (first + low_end);
            simd::for_each_register(mid_n, [&](index_t i, index_t lanes) {
                simd::store_n(dst + i, simd::load_n(dst + i, lanes) + simd::load_n(src + i, lanes),
                              lanes);
            });
        }
        // Past the table: its last entry.
        for (std::ptrdiff_t t = mid_end; t < nn; ++t) {
            row[t] += table[last];
        }
    }

    index_t num_buckets_;
    index_t num_heads_;
    bool bidirectional_;
    index_t max_distance_;
    index_t range_;
    index_t span_;
    std::vector<float> table_;
    std::vector<float> reversed_;
};

static_assert(column_score_bias<t5_relative_bias>);

} // namespace ctt
