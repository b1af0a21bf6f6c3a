#pragma once
/**
 * @file
 * @brief Hugging Face `tokenizer.json` in C++: text in, token ids out, and back.
 *
 * `ctt::text::tokenizer` loads a `tokenizer.json` (file or memory buffer) and reproduces what
 * Hugging Face `tokenizers` (the Rust library, checked against its Node binding 0.23.2) does
 * with it: added/special tokens, normalizer, pre-tokenizer, model (BPE, WordPiece, Unigram,
 * WordLevel), post-processor and decoder, each dispatched on its `type` field. An unknown
 * component or option is a `tokenizer_error` naming it and its JSON path.
 *
 * This header needs no third-party include; the implementation lives in the `ctt::text`
 * library (PCRE2 for split patterns, utf8proc for normalization and character categories; see
 * src/text/unicode.hpp for why those two).
 *
 * Offsets are byte ranges `[begin, end)` of the input; `to_code_point_offsets` converts them the
 * way the reference's `encode_char_offsets` does. Input that is not valid UTF-8 is rejected with a
 * `tokenizer_error` giving the byte offset of the first bad byte (the reference only ever sees
 * valid strings).
 */
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctt::text {

/** @brief A malformed or unsupported `tokenizer.json`, invalid UTF-8 input, or an unknown id. */
class tokenizer_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/** @brief `[begin, end)`: bytes of the input (or code points after `to_code_point_offsets`). */
using offset_range = std::pair<std::size_t, std::size_t>;

/** @brief What `encode` returns: one entry per token in each vector. */
struct encoding {
    std::vector<std::uint32_t> ids;
    std::vector<std::string> tokens;
    /** Byte ranges of the input text each token came from; `{0, 0}` for added special tokens.
        For `encode_pair`, the tokens of the second text have ranges in the second text. */
    std::vector<offset_range> offsets;
    std::vector<std::uint32_t> type_ids;
    /** 1 where the post-processor added the token (`[CLS]`, `<s>`, ...), else 0. */
    std::vector<std::uint8_t> special_tokens_mask;

    [[nodiscard]] std::size_t size() const noexcept { return ids.size(); }
};

/**
 * @brief Byte offsets to code-point offsets, as the reference's `encode_char_offsets`: every
 * byte of a character maps to that character's index, so a range ending inside a character stops
 * before it. `text` is the string the offsets refer to.
 */
[[nodiscard]] std::vector<offset_range> to_code_point_offsets(std::string_view text,
                                                              std::span<const offset_range> bytes);

/**
 * @brief A loaded `tokenizer.json`. Immutable after loading apart from an internal word cache
 * (guarded), so one tokenizer may serve several threads.
 */
class tokenizer {
public:
    /** @brief Loads a `tokenizer.json` file. */
    [[nodiscard]] static tokenizer from_file(const std::filesystem::path& path);
    /**
     * @brief Loads a `tokenizer.json` held in memory.
     *
     * The document is parsed within bounds (at most 1 GiB, 64 levels of nesting, 16 MiB per
     * string); past one, `tokenizer_error` names it, e.g. "tokenizer.json: JSON nests deeper
     * than 64 levels".
     */
    [[nodiscard]] static tokenizer from_json(std::string_view json);

    tokenizer(tokenizer&&) noexcept;
    tokenizer& operator=(tokenizer&&) noexcept;
    ~tokenizer();

    /** @brief Tokenizes `text`; the post-processor adds its tokens when `add_special_tokens`. */
    [[nodiscard]] encoding encode(std::string_view text, bool add_special_tokens = true) const;
    /** @brief Tokenizes a pair of texts (sentence A and B) with the post-processor's pair rule. */
    [[nodiscard]] encoding encode_pair(std::string_view first, std::string_view second,
                                       bool add_special_tokens = true) const;
    /** @brief `encode` of each text, in order. */
    [[nodiscard]] std::vector<encoding> encode_batch(std::span<const std::string> texts,
                                                     bool add_special_tokens = true) const;

    /** @brief Text of `ids` through the decoder; special added tokens left out when asked.
        Unknown ids are skipped, as the reference does. */
    [[nodiscard]] std::string decode(std::span<const std::uint32_t> ids,
                                     bool skip_special_tokens = false) const;

    [[nodiscard]] std::optional<std::uint32_t> token_to_id(std::string_view token) const;
    [[nodiscard]] std::optional<std::string> id_to_token(std::uint32_t id) const;
    /** @brief Model vocabulary plus added tokens (one past the largest id). */
    [[nodiscard]] std::size_t vocab_size() const;

    struct impl;

private:
    explicit tokenizer(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

/**
 * @brief Incremental decoding for generation: feed ids one at a time, print what `step`
 * returns. Text is held back while it would end in a broken (partial) UTF-8 character, so the
 * concatenation of all returned pieces is the decode of all ids, never with `U+FFFD` artefacts of
 * a split character. Follows the reference's `DecodeStream`.
 */
class decode_stream {
public:
    explicit decode_stream(const tokenizer& tok, bool skip_special_tokens = false)
        : tokenizer_(&tok)
        , skip_special_(skip_special_tokens) {}
    /** @brief The new text that `id` completes; empty while a character is still incomplete. */
    [[nodiscard]] std::string step(std::uint32_t id);

private:
    const tokenizer* tokenizer_;
    bool skip_special_;
    std::vector<std::uint32_t> ids_;
    std::string prefix_;
    std::size_t prefix_index_ = 0;
};

} // namespace ctt::text
