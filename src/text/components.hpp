#pragma once
/**
 * @file
 * @brief The pipeline stages of a tokenizer.json, each built from its JSON object.
 *
 * Semantics follow Hugging Face `tokenizers` (Rust), module by module: normalizers/,
 * pre_tokenizers/, models/, processors/, decoders/. Every factory checks the `type` and the
 * option names it knows and throws `tokenizer_error` naming the JSON path of anything else.
 */
#include "normalized_string.hpp"

#include <ctt/text/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctt::text::detail {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& what);

/** A token of the model: id, string, and byte range in the string it was cut from. */
struct model_token {
    std::uint32_t id;
    std::string value;
    std::size_t begin, end;
};

/** One piece of the text on its way through the pipeline (the reference's `Split`). */
struct piece {
    normalized_string text;
    std::optional<std::vector<model_token>> tokens; ///< set once tokenized (or an added token)
};

struct normalizer {
    virtual ~normalizer() = default;
    virtual void normalize(normalized_string& s) const = 0;
};

struct pre_tokenizer {
    virtual ~pre_tokenizer() = default;
    virtual void pre_tokenize(std::vector<piece>& pieces) const = 0;
};

struct model {
    virtual ~model() = default;
    virtual void tokenize(std::string_view word, std::vector<model_token>& out) const = 0;
    [[nodiscard]] virtual std::optional<std::uint32_t> token_to_id(std::string_view) const = 0;
    [[nodiscard]] virtual const std::string* id_to_token(std::uint32_t id) const = 0;
    [[nodiscard]] virtual std::size_t vocab_size() const = 0;
    /** Number of entries of the vocabulary (the reference's `get_vocab_size`). */
    [[nodiscard]] virtual std::size_t entry_count() const { return vocab_size(); }
};

struct post_processor {
    virtual ~post_processor() = default;
    /** Combines `first` (and `second`, when a pair) into the final encoding. */
    virtual encoding process(encoding first, encoding* second, bool add_special_tokens) const = 0;
};

struct decoder {
    virtual ~decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<normalizer> make_normalizer(const json& j, const std::string& path);
std::unique_ptr<pre_tokenizer> make_pre_tokenizer(const json& j, const std::string& path);
std::unique_ptr<model> make_model(const json& j, const std::string& path);
std::unique_ptr<post_processor> make_post_processor(const json& j, const std::string& path);
std::unique_ptr<decoder> make_decoder(const json& j, const std::string& path);

/** Applies `f(normalized_string&&, std::vector<normalized_string>& out)` to every piece that
    has no tokens yet, dropping empty results (the reference's `PreTokenizedString::split`). */
template <class F>
void split_pieces(std::vector<piece>& pieces, F&& f) {
    std::vector<piece> out;
    out.reserve(pieces.size() * 2);
    std::vector<normalized_string> parts;
    for (auto& p : pieces) {
        if (p.tokens) {
            out.push_back(std::move(p));
            continue;
        }
        parts.clear();
        f(std::move(p.text), parts);
        for (auto& s : parts)
            if (!s.empty())
                out.push_back(piece{std::move(s), std::nullopt});
    }
    pieces = std::move(out);
}

/** GPT-2's byte-to-character table of the ByteLevel pre-tokenizer and decoder. */
const std::vector<char32_t>& byte_to_char();
/** The inverse of byte_to_char (-1 for characters not in it). */
int char_to_byte(char32_t c);

/** The reference's `process_offsets` of ByteLevel: trims whitespace off token ranges. */
void trim_byte_level_offsets(encoding& e, bool add_prefix_space);

} // namespace ctt::text::detail
