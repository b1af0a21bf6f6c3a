#pragma once
/**
 * @file
 * @brief Input embeddings: table lookups (tokens, learned absolute positions, token types,
 *        segments, languages) and the position ids each model family feeds them.
 *
 * Every lookup checks its ids against the vocabulary and throws `ctt::value_error` naming the
 * id and the table size: a bad id is reported, never read past the table.
 *
 * Position ids follow the code that defines each model (HF transformers):
 * - BERT, GPT-2, XLM, ALBERT, ELECTRA: `past_length + 0, 1, ...` (`offset_position_ids`).
 * - BART, mBART: the same plus 2 (`BartLearnedPositionalEmbedding.offset`).
 * - RoBERTa, XLM-R, M2M100: `padding_idx + 1 + running count of non-pad tokens`, pads at
 *   `padding_idx` (`create_position_ids_from_input_ids`), see `roberta_position_ids`.
 */

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/simd/batch.hpp"

namespace ctt {

/// A contiguous range of integer ids (`std::vector<int32_t>`, `std::span<const int64_t>`, ...).
template <class R>
concept id_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::integral<std::remove_cv_t<std::ranges::range_value_t<R>>>;

namespace detail {

/// Converts an id to a row index, throwing `value_error` when it falls outside `[0, vocab)`.
template <std::integral Id>
[[nodiscard]] index_t checked_row(Id id, index_t vocab, const char* what) {
    bool ok = true;
    if constexpr (std::is_signed_v<Id>) {
        ok = id >= 0;
    }
    if (ok && static_cast<std::make_unsigned_t<Id>>(id) >= vocab) {
        ok = false;
    }
    if (!ok) {
        throw value_error(std::string(what) + ": id " + std::to_string(id) +
                          " is outside the vocabulary of size " + std::to_string(vocab));
    }
    return static_cast<index_t>(id);
}

inline void add_row(float* dst, const float* src, index_t n) noexcept {
    simd::for_each_register(n, [&](index_t i, index_t lanes) {
        simd::store_n(dst + i, simd::load_n(dst + i, lanes) + simd::load_n(src + i, lanes), lanes);
    });
}

template <class T>
inline constexpr bool is_float_element_v = std::same_as<std::remove_const_t<T>, float>;

} // namespace detail

/**
 * @brief `out[t] = table[ids[t]]` for every t: token, position, token-type, segment or
 *        language embeddings.
 *
 * @throws value_error when an id is negative or `>= table.rows()` (the message names both).
 * @throws shape_error when `ids.size() != out.rows()` or the widths differ at run time; static
 *         widths that differ do not compile.
 */
template <class TT, index_t V, index_t H, index_t L, index_t H2, id_range Ids>
requires(detail::is_float_element_v<TT>) void embedding_lookup(
    tensor_view<TT, shape<V, H>> table, const Ids& ids, tensor_view<float, shape<L, H2>> out) {
    CTT_CHECK_DIMS(CTT_MSG_EMBEDDING_WIDTH, H, H2, table.cols(), out.cols());
    detail::check_dims(CTT_MSG_EMBEDDING_IDS, std::ranges::size(ids), out.rows());
    const auto* id = std::ranges::data(ids);
    for (index_t t = 0; t < out.rows(); ++t) {
        const index_t r = detail::checked_row(id[t], table.rows(), "embedding_lookup");
        std::copy_n(table[r].data(), out.cols(), out[t].data());
    }
}

/**
 * @brief `out[t] += table[ids[t]]`: sums one more embedding into the input (BERT adds token,
 *        position and token-type embeddings before its layer norm).
 *
 * @throws value_error, shape_error as `embedding_lookup`.
 */
template <class TT, index_t V, index_t H, index_t L, index_t H2, id_range Ids>
requires(detail::is_float_element_v<TT>) void embedding_lookup_add(
    tensor_view<TT, shape<V, H>> table, const Ids& ids, tensor_view<float, shape<L, H2>> out) {
    CTT_CHECK_DIMS(CTT_MSG_EMBEDDING_WIDTH, H, H2, table.cols(), out.cols());
    detail::check_dims(CTT_MSG_EMBEDDING_IDS, std::ranges::size(ids), out.rows());
    const auto* id = std::ranges::data(ids);
    for (index_t t = 0; t < out.rows(); ++t) {
        const index_t r = detail::checked_row(id[t], table.rows(), "embedding_lookup_add");
        detail::add_row(out[t].data(), table[r].data(), out.cols());
    }
}

/**
 * @brief `out[t] += table[id]` for every row: one id for the whole sequence (token type 0 when
 *        BERT gets no `token_type_ids`; XLM's language embedding for a monolingual input).
 *
 * @throws value_error when `id` is outside the table.
 */
template <class TT, index_t V, index_t H, index_t L, index_t H2, std::integral Id>
requires(detail::is_float_element_v<TT>) void embedding_broadcast_add(
    tensor_view<TT, shape<V, H>> table, Id id, tensor_view<float, shape<L, H2>> out) {
    CTT_CHECK_DIMS(CTT_MSG_EMBEDDING_WIDTH, H, H2, table.cols(), out.cols());
    const index_t r = detail::checked_row(id, table.rows(), "embedding_broadcast_add");
    for (index_t t = 0; t < out.rows(); ++t) {
        detail::add_row(out[t].data(), table[r].data(), out.cols());
    }
}

/**
 * @brief Position ids `past_length + offset + t` for `t < length`: 0-based learned positions
 *        (BERT, GPT-2: offset 0) and BART's (offset 2, `BartLearnedPositionalEmbedding`).
 */
[[nodiscard]] inline std::vector<index_t>
offset_position_ids(index_t length, index_t past_length = 0, index_t offset = 0) {
    std::vector<index_t> ids(length);
    for (index_t t = 0; t < length; ++t) {
        ids[t] = past_length + offset + t;
    }
    return ids;
}

/// BART / mBART position ids: `past_length + 2 + t` (the learned table has 2 extra rows).
inline constexpr index_t bart_position_offset = 2;

/// `offset_position_ids(length, past_length, bart_position_offset)`.
[[nodiscard]] inline std::vector<index_t> bart_position_ids(index_t length,
                                                            index_t past_length = 0) {
    return offset_position_ids(length, past_length, bart_position_offset);
}

/**
 * @brief RoBERTa / XLM-R / M2M100 position ids from the token ids: a non-pad token gets
 *        `padding_idx + past_length + (number of non-pad tokens up to and including it)`, a pad
 *        token gets `padding_idx` (HF `create_position_ids_from_input_ids`, one row).
 *
 * @throws value_error when `padding_idx` is negative.
 */
template <id_range Ids, std::integral Id>
[[nodiscard]] std::vector<index_t> roberta_position_ids(const Ids& input_ids, Id padding_idx,
                                                        index_t past_length = 0) {
    if constexpr (std::is_signed_v<Id>) {
        if (padding_idx < 0) {
            throw value_error(detail::message("roberta_position_ids: padding_idx ",
                                              std::to_string(padding_idx), " is negative"));
        }
    }
    const auto n = static_cast<index_t>(std::ranges::size(input_ids));
    const auto* id = std::ranges::data(input_ids);
    const auto pad = static_cast<index_t>(padding_idx);
    std::vector<index_t> pos(n);
    index_t count = 0;
    for (index_t t = 0; t < n; ++t) {
        const bool is_pad = static_cast<long long>(id[t]) == static_cast<long long>(padding_idx);
        count += is_pad ? 0 : 1;
        pos[t] = is_pad ? pad : pad + past_length + count;
    }
    return pos;
}

} // namespace ctt
