#pragma once
/**
 * @file
 * @brief What models take and give: batches of token ids, attention masks, and the
 *        per-sequence helpers every model family shares.
 */

#include <cstdint>
#include <span>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/tensor.hpp"

namespace ctt {

/// Token ids of `batch` sequences of one length: `[batch, length]`, int32 as HF's inputs.
using token_ids = tensor_view<const std::int32_t, shape<dyn, dyn>>;

/// Pixels as HF takes them: `[batch, channels, height, width]`, float32.
using pixel_values = tensor_view<const float, shape<dyn, dyn, dyn, dyn>>;

/// The inputs of `encoder_model::forward` beside the token ids; null pointers are absent.
struct encoder_inputs {
    const token_ids* token_types = nullptr;    ///< `token_type_ids` (0 when absent)
    const token_ids* attention_mask = nullptr; ///< 1 = token, 0 = padding (all tokens if absent)
    const token_ids* langs = nullptr;          ///< XLM's language ids
    bool output_hidden_states = false;         ///< fill `hidden_states` as HF reports them
};

/// How `embed` turns a sequence into one vector.
enum class pooling {
    cls,    ///< the first token's final hidden state
    pooler, ///< the pooler's output (LaBSE)
    mean,   ///< the mean over real tokens (sentence-transformers' mean pooling)
};

/// Row `b` of a `[batch, length]` id (or mask) view, as a span.
[[nodiscard]] inline std::span<const std::int32_t> sequence(token_ids ids, index_t b) {
    return {ids[b].data(), ids.cols()};
}

/**
 * @brief Per-sequence key-padding flags of an HF `attention_mask` (1 = token, 0 = padding);
 *        with no mask every token is real.
 */
class padding_flags {
public:
    padding_flags(const token_ids* mask, index_t batch, index_t length)
        : length_(length)
        , flags_(batch * length, 1) {
        if (mask != nullptr) {
            detail::check_dims("attention_mask: rows and batch differ", mask->rows(), batch);
            detail::check_dims("attention_mask: columns and length differ", mask->cols(), length);
            for (index_t b = 0; b < batch; ++b) {
                for (index_t t = 0; t < length; ++t) {
                    flags_[b * length + t] = (*mask)(b, t) != 0 ? 1 : 0;
                }
            }
        }
    }
    /// The key-padding mask of sequence `b`.
    [[nodiscard]] key_padding_mask mask(index_t b) const {
        return key_padding_mask(
            std::span<const std::uint8_t>(flags_.data() + b * length_, length_));
    }
    [[nodiscard]] bool is_token(index_t b, index_t t) const { return flags_[b * length_ + t] != 0; }

private:
    index_t length_;
    std::vector<std::uint8_t> flags_;
};

namespace detail {

/**
 * @brief Cuts `pixels` (`[batch, C, H, W]`) into `P x P` patches: patch (gy, gx) of image b is
 *        row `b * (H/P) * (W/P) + gy * (W/P) + gx` of `out`, its columns `(c, ky, kx)`: the
 *        layout of a patch convolution's weight `[width, C, P, P]` read as `[width, C*P*P]`.
 */
template <tensor_shape S>
void unfold_patches(pixel_values pixels, index_t patch, tensor_view<float, S> out) {
    const auto e = pixels.shape().extents();
    const index_t gh = e[2] / patch;
    const index_t gw = e[3] / patch;
    check_dims("unfold_patches: output rows and patches differ", out.rows(), e[0] * gh * gw);
    check_dims("unfold_patches: output columns and patch size differ", out.cols(),
               e[1] * patch * patch);
    for (index_t b = 0; b < e[0]; ++b) {
        for (index_t gy = 0; gy < gh; ++gy) {
            for (index_t gx = 0; gx < gw; ++gx) {
                float* dst = out[(b * gh + gy) * gw + gx].data();
                for (index_t c = 0; c < e[1]; ++c) {
                    for (index_t ky = 0; ky < patch; ++ky) {
                        for (index_t kx = 0; kx < patch; ++kx) {
                            *dst++ = pixels(b, c, gy * patch + ky, gx * patch + kx);
                        }
                    }
                }
            }
        }
    }
}

} // namespace detail

/// Which head a causal language model carries (HF's `*ForCausalLM` or
/// `*ForSequenceClassification`, the scalar reward of InstructGPT and Sparrow).
enum class causal_lm_head { lm, sequence_score };

namespace detail {
/// A config's `head`, or the LM head when it names none.
template <class C>
consteval causal_lm_head head_of() {
    if constexpr (requires { C::head; }) {
        return C::head;
    } else {
        return causal_lm_head::lm;
    }
}
/// A config's `num_labels` (1 when it names none).
template <class C>
consteval index_t num_labels_of() {
    if constexpr (requires { C::num_labels; }) {
        return C::num_labels;
    } else {
        return 1;
    }
}
} // namespace detail

/// The index of the largest value of a row (greedy decoding); the first one on ties, as torch.
[[nodiscard]] inline index_t argmax(std::span<const float> row) {
    index_t best = 0;
    for (index_t i = 1; i < row.size(); ++i) {
        if (row[i] > row[best]) {
            best = i;
        }
    }
    return best;
}

} // namespace ctt
