// Checks every encoder must pass whatever its weights: one call over a padded batch gives each
// row exactly (bit for bit) what that row gives alone, and padding never reaches real tokens.
#pragma once

#include <ctt/models/encoder_model.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "random_model.hpp"

namespace ctt::test {

/// Rows `[row * length, (row + 1) * length)` of `t`, flattened.
template <class T>
std::vector<float> rows_of(const T& t, index_t first, index_t count) {
    const index_t width = t.cols();
    return std::vector<float>(t.data() + first * width, t.data() + (first + count) * width);
}

/// Every per-token output of sequence `b` (rows of `length`) and per-sequence output, by name.
template <class M, class Out>
std::vector<std::pair<std::string, std::vector<float>>> outputs_of(const Out& out, index_t b,
                                                                   index_t length) {
    std::vector<std::pair<std::string, std::vector<float>>> all;
    all.emplace_back("last_hidden_state", rows_of(out.last_hidden_state, b * length, length));
    for (index_t i = 0; i < out.hidden_states.size(); ++i) {
        all.emplace_back("hidden_states[" + std::to_string(i) + "]",
                         rows_of(out.hidden_states[i], b * length, length));
    }
    if constexpr (M::has_mlm) {
        all.emplace_back("prediction_logits", rows_of(out.prediction_logits, b * length, length));
    }
    if constexpr (M::has_discriminator) {
        all.emplace_back("token_logits", rows_of(out.token_logits, b * length, length));
    }
    if constexpr (M::has_pooler) {
        all.emplace_back("pooled", rows_of(out.pooled, b, 1));
    }
    if constexpr (M::has_sentence_pair) {
        all.emplace_back("seq_relationship_logits", rows_of(out.seq_relationship_logits, b, 1));
    }
    return all;
}

/// Each output of sequence `b` of `together` equals output 0 of `alone` bit for bit.
template <class M, class Out>
void check_same_bits(const Out& together, index_t b, const Out& alone, index_t length) {
    const auto x = outputs_of<M>(together, b, length);
    const auto y = outputs_of<M>(alone, 0, length);
    REQUIRE(x.size() == y.size());
    for (index_t i = 0; i < x.size(); ++i) {
        CAPTURE(x[i].first);
        CHECK(max_diff(x[i].second, y[i].second) == 0.0);
    }
}

/**
 * @brief A batch of `real.size()` rows of `length` tokens, row b real for its first `real[b]`
 *        tokens: each row's outputs equal that row run alone bit for bit (same length and mask),
 *        and its real tokens match the row cut to its real length within 1e-4.
 */
template <class M>
void check_batch_invariance(const M& model, index_t length, const std::vector<index_t>& real,
                            unsigned seed, index_t types = 0, index_t langs = 0) {
    const index_t batch = real.size();
    auto ids = random_tokens(batch * length, M::vocab, seed);
    std::vector<std::int32_t> mask(batch * length, 0);
    auto type_ids = random_tokens(batch * length, types == 0 ? 1 : types, seed + 1);
    auto lang_ids = random_tokens(batch * length, langs == 0 ? 1 : langs, seed + 2);
    for (index_t b = 0; b < batch; ++b) {
        for (index_t t = 0; t < real[b]; ++t) {
            mask[b * length + t] = 1;
        }
    }
    const auto view = [](const std::vector<std::int32_t>& v, index_t first, index_t rows,
                         index_t cols, index_t) {
        return token_ids(v.data() + first, shape<dyn, dyn>(rows, cols));
    };
    const token_ids ids_v = view(ids, 0, batch, length, length);
    const token_ids mask_v = view(mask, 0, batch, length, length);
    const token_ids types_v = view(type_ids, 0, batch, length, length);
    const token_ids langs_v = view(lang_ids, 0, batch, length, length);
    const auto inputs = [&](const token_ids* t, const token_ids* m, const token_ids* l) {
        return encoder_inputs{types > 0 ? t : nullptr, m, langs > 0 ? l : nullptr, true};
    };
    const auto together = model.forward(ids_v, inputs(&types_v, &mask_v, &langs_v));
    CHECK(together.hidden_states.size() == M::num_layers + 1);
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        const token_ids one_ids = view(ids, b * length, 1, length, length);
        const token_ids one_mask = view(mask, b * length, 1, length, length);
        const token_ids one_types = view(type_ids, b * length, 1, length, length);
        const token_ids one_langs = view(lang_ids, b * length, 1, length, length);
        const auto alone = model.forward(one_ids, inputs(&one_types, &one_mask, &one_langs));
        check_same_bits<M>(together, b, alone, length);
        // Cut to its real tokens, without a mask: the same values up to rounding.
        const token_ids cut_ids = view(ids, b * length, 1, real[b], length);
        std::vector<std::int32_t> cut_types(type_ids.begin() + b * length,
                                            type_ids.begin() + b * length + real[b]);
        std::vector<std::int32_t> cut_langs(lang_ids.begin() + b * length,
                                            lang_ids.begin() + b * length + real[b]);
        const token_ids cut_types_v(cut_types.data(), shape<dyn, dyn>(1, real[b]));
        const token_ids cut_langs_v(cut_langs.data(), shape<dyn, dyn>(1, real[b]));
        const auto cut = model.forward(cut_ids, inputs(&cut_types_v, nullptr, &cut_langs_v));
        CHECK(max_diff(rows_of(together.last_hidden_state, b * length, real[b]),
                       rows_of(cut.last_hidden_state, 0, real[b])) < 1e-4);
    }
}

} // namespace ctt::test
