// The tokenizer: added tokens, the pipeline, and the public API.
#include "components.hpp"

#include <ctt/io/json_limits.hpp>
#include <ctt/text/tokenizer.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace ctt::text {

using detail::fail;
using detail::json;
using detail::model_token;
using detail::normalized_string;
using detail::piece;

namespace {

/// The bounds of a tokenizer.json (see from_json).
constexpr ctt::json_limits tokenizer_json_limits{.max_bytes = std::size_t{1} << 30,
                                                 .max_depth = 64,
                                                 .max_string_bytes = std::size_t{16} << 20,
                                                 .unique_keys = false};

struct added_token {
    std::string content;
    std::uint32_t id = 0;
    bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
    /** What decode and id_to_token give: the normalized content for a normalized token (so
        the npm reference 0.23.2 decodes them). */
    std::string decoded;
};

/** Leftmost-longest matching of added tokens: a byte trie walked from each position. */
struct token_trie {
    std::unordered_map<std::uint64_t, std::uint32_t> children;
    std::vector<std::int32_t> value{-1}; // index into the added tokens, per node
    std::array<bool, 256> first{};

    [[nodiscard]] bool empty() const noexcept { return value.size() == 1; }
    void insert(std::string_view s, std::size_t index) {
        if (s.empty())
            return;
        first[static_cast<unsigned char>(s[0])] = true;
        std::uint32_t node = 0;
        for (const char ch : s) {
            const std::uint64_t k =
                (static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(ch);
            auto it = children.find(k);
            if (it == children.end()) {
                const auto n = static_cast<std::uint32_t>(value.size());
                value.push_back(-1);
                children.emplace(k, n);
                node = n;
            } else {
                node = it->second;
            }
        }
        if (value[node] < 0)
            value[node] = static_cast<std::int32_t>(index);
    }
    /** Longest match starting at `at`: (end, index) or index -1. */
    [[nodiscard]] std::pair<std::size_t, std::int32_t> longest(std::string_view s,
                                                               std::size_t at) const {
        std::pair<std::size_t, std::int32_t> best{at, -1};
        if (!first[static_cast<unsigned char>(s[at])])
            return best;
        std::uint32_t node = 0;
        for (std::size_t k = at; k < s.size(); ++k) {
            auto it = children.find((static_cast<std::uint64_t>(node) << 8) |
                                    static_cast<unsigned char>(s[k]));
            if (it == children.end())
                break;
            node = it->second;
            if (value[node] >= 0)
                best = {k + 1, value[node]};
        }
        return best;
    }
};

char32_t last_code_point(std::string_view s) {
    std::size_t b = s.size() - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80)
        --b;
    return detail::next_code_point(s, b);
}

} // namespace

struct tokenizer::impl {
    std::unique_ptr<detail::normalizer> normalizer;
    std::unique_ptr<detail::pre_tokenizer> pre_tokenizer;
    std::unique_ptr<detail::model> model;
    std::unique_ptr<detail::post_processor> post_processor;
    std::unique_ptr<detail::decoder> decoder;

    std::vector<added_token> added;
    std::unordered_map<std::string, std::uint32_t> added_to_id;
    std::unordered_map<std::uint32_t, std::size_t> added_by_id;
    std::unordered_set<std::string> special_contents;
    token_trie raw_trie, normalized_trie;

    /** The reference's `AddedVocabulary::find_matches`: (token index or -1, byte range). */
    void find_matches(
        std::string_view s, const token_trie& trie,
        std::vector<std::pair<std::int32_t, std::pair<std::size_t, std::size_t>>>& out) const {
        out.clear();
        if (s.empty()) {
            out.push_back({-1, {0, 0}});
            return;
        }
        if (trie.empty()) {
            out.push_back({-1, {0, s.size()}});
            return;
        }
        std::size_t start_offset = 0;
        for (std::size_t i = 0; i < s.size();) {
            const auto [stop0, index] = trie.longest(s, i);
            if (index < 0) {
                ++i;
                continue;
            }
            std::size_t start = i, stop = stop0;
            i = stop0;
            const added_token& t = added[static_cast<std::size_t>(index)];
            if (t.single_word) {
                const bool start_space =
                    start == 0 || !detail::is_word_char(last_code_point(s.substr(0, start)));
                std::size_t k = stop;
                const bool stop_space =
                    stop == s.size() || !detail::is_word_char(detail::next_code_point(s, k));
                if (!start_space || !stop_space)
                    continue;
            }
            if (t.lstrip) {
                std::size_t b = start;
                while (b > 0) {
                    std::size_t p = b - 1;
                    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80)
                        --p;
                    std::size_t q = p;
                    if (!detail::is_whitespace(detail::next_code_point(s, q)))
                        break;
                    b = p;
                }
                start = std::max(b, start_offset);
            }
            if (t.rstrip) {
                while (stop < s.size()) {
                    std::size_t q = stop;
                    if (!detail::is_whitespace(detail::next_code_point(s, q)))
                        break;
                    stop = q;
                }
            }
            if (start_offset < start)
                out.push_back({-1, {start_offset, start}});
            out.push_back({index, {start, stop}});
            start_offset = stop;
        }
        if (start_offset != s.size())
            out.push_back({-1, {start_offset, s.size()}});
    }

    encoding encode_single(std::string_view text, std::uint32_t type_id) const {
        std::vector<piece> pieces;
        pieces.push_back(piece{normalized_string(text), std::nullopt});
        for (int pass = 0; pass < 2; ++pass) {
            const bool normalize_first = pass == 1;
            const token_trie& trie = pass == 0 ? raw_trie : normalized_trie;
            std::vector<piece> out;
            std::vector<std::pair<std::int32_t, std::pair<std::size_t, std::size_t>>> matches;
            for (auto& p : pieces) {
                if (p.tokens) {
                    out.push_back(std::move(p));
                    continue;
                }
                normalized_string& s = p.text;
                if (normalize_first && normalizer)
                    normalizer->normalize(s);
                find_matches(s.text, trie, matches);
                for (const auto& [index, range] : matches) {
                    normalized_string part = s.slice(range.first, range.second);
                    if (part.empty())
                        continue;
                    piece np{std::move(part), std::nullopt};
                    if (index >= 0) {
                        const added_token& t = added[static_cast<std::size_t>(index)];
                        np.tokens = std::vector<model_token>{
                            model_token{t.id, np.text.text, 0, np.text.size()}};
                    }
                    out.push_back(std::move(np));
                }
            }
            pieces = std::move(out);
        }
        if (pre_tokenizer)
            pre_tokenizer->pre_tokenize(pieces);
        encoding e;
        e.ids.reserve(pieces.size() + 8);
        e.tokens.reserve(pieces.size() + 8);
        e.offsets.reserve(pieces.size() + 8);
        std::vector<model_token> tokens;
        for (auto& p : pieces) {
            std::vector<model_token>* list = nullptr;
            if (p.tokens) {
                list = &*p.tokens;
            } else {
                tokens.clear();
                model->tokenize(p.text.text, tokens);
                list = &tokens;
            }
            for (auto& t : *list) {
                e.ids.push_back(t.id);
                e.tokens.push_back(std::move(t.value));
                e.offsets.push_back(p.text.to_original(t.begin, t.end));
                e.type_ids.push_back(type_id);
                e.special_tokens_mask.push_back(0);
            }
        }
        return e;
    }

    encoding post_process(encoding first, encoding* second, bool add_special_tokens) const {
        if (post_processor)
            return post_processor->process(std::move(first), second, add_special_tokens);
        if (second) {
            auto append = [](auto& a, auto& b) { a.insert(a.end(), b.begin(), b.end()); };
            append(first.ids, second->ids);
            append(first.tokens, second->tokens);
            append(first.offsets, second->offsets);
            append(first.type_ids, second->type_ids);
            append(first.special_tokens_mask, second->special_tokens_mask);
        }
        return first;
    }

    const std::string* id_to_token(std::uint32_t id) const {
        auto it = added_by_id.find(id);
        if (it != added_by_id.end())
            return &added[it->second].decoded;
        return model->id_to_token(id);
    }
};

namespace {

void check_utf8(std::string_view text) {
    const auto bad = detail::invalid_utf8_at(text);
    if (bad != std::string_view::npos)
        throw tokenizer_error("encode: the text is not valid UTF-8 (byte " + std::to_string(bad) +
                              ")");
    if (text.size() >= (std::size_t{1} << 31))
        throw tokenizer_error("encode: texts of 2 GiB or more are not supported");
}

} // namespace

tokenizer::tokenizer(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}
tokenizer::tokenizer(tokenizer&&) noexcept = default;
tokenizer& tokenizer::operator=(tokenizer&&) noexcept = default;
tokenizer::~tokenizer() = default;

tokenizer tokenizer::from_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw tokenizer_error("cannot open " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    try {
        return from_json(ss.str());
    } catch (const tokenizer_error& e) {
        throw tokenizer_error(path.string() + ": " + e.what());
    }
}

tokenizer tokenizer::from_json(std::string_view text) {
    // Bounded: the largest published tokenizer.json files are ~35 MB, nest ~6 levels, and
    // their longest string (a SentencePiece precompiled charsmap) is under 1 MB.
    json j;
    try {
        j = ctt::parse_json_within(text, tokenizer_json_limits, "tokenizer.json");
    } catch (const ctt::io_error& e) {
        throw tokenizer_error(e.what());
    }
    if (!j.is_object())
        fail("$", "expected an object");
    auto p = std::make_unique<impl>();
    for (const auto& [key, value] : j.items()) {
        if (key != "version" && key != "truncation" && key != "padding" && key != "added_tokens" &&
            key != "normalizer" && key != "pre_tokenizer" && key != "model" && key != "decoder" &&
            key != "post_processor")
            fail("$." + key, "unknown field \"" + key + "\"");
    }
    if (j.contains("version") && !(j["version"].is_string() && j["version"] == "1.0"))
        fail("$.version", "unknown tokenizer version " + j["version"].dump());
    if (j.contains("truncation") && !j["truncation"].is_null())
        fail("$.truncation", "truncation is not supported (it must be null)");
    if (j.contains("padding") && !j["padding"].is_null())
        fail("$.padding", "padding is not supported (it must be null)");
    if (!j.contains("model"))
        fail("$.model", "missing");
    try {
        p->model = detail::make_model(j["model"], "$.model");
        if (j.contains("normalizer") && !j["normalizer"].is_null())
            p->normalizer = detail::make_normalizer(j["normalizer"], "$.normalizer");
        if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
            p->pre_tokenizer = detail::make_pre_tokenizer(j["pre_tokenizer"], "$.pre_tokenizer");
        if (j.contains("post_processor") && !j["post_processor"].is_null())
            p->post_processor =
                detail::make_post_processor(j["post_processor"], "$.post_processor");
        if (j.contains("decoder") && !j["decoder"].is_null())
            p->decoder = detail::make_decoder(j["decoder"], "$.decoder");
    } catch (const json::exception& e) {
        throw tokenizer_error(std::string("tokenizer.json: ") + e.what());
    }

    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
        const auto& list = j["added_tokens"];
        if (!list.is_array())
            fail("$.added_tokens", "expected an array");
        auto next_id = static_cast<std::uint32_t>(p->model->entry_count());
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string path = "$.added_tokens[" + std::to_string(i) + "]";
            const auto& t = list[i];
            if (!t.is_object())
                fail(path, "expected an object");
            added_token a;
            for (const auto& [key, value] : t.items()) {
                if (key == "content") {
                    if (!value.is_string())
                        fail(path + ".content", "expected a string");
                    a.content = value.get<std::string>();
                } else if (key == "id") {
                    if (!value.is_number_unsigned())
                        fail(path + ".id", "expected a non-negative id");
                    a.id = value.get<std::uint32_t>();
                } else if (key == "single_word" || key == "lstrip" || key == "rstrip" ||
                           key == "normalized" || key == "special") {
                    if (!value.is_boolean())
                        fail(path + "." + key, "expected true or false");
                    const bool b = value.get<bool>();
                    if (key == "single_word")
                        a.single_word = b;
                    if (key == "lstrip")
                        a.lstrip = b;
                    if (key == "rstrip")
                        a.rstrip = b;
                    if (key == "normalized")
                        a.normalized = b;
                    if (key == "special")
                        a.special = b;
                } else {
                    fail(path + "." + key, "unknown added-token option \"" + key + "\"");
                }
            }
            if (a.content.empty())
                continue;
            if (detail::invalid_utf8_at(a.content) != std::string::npos)
                fail(path + ".content", "not valid UTF-8");
            // Ids as the reference's loader gives them (it re-adds the tokens in one call and
            // does not use the "id" field): an added token seen before keeps its id, one in the
            // model's vocabulary takes the model's id, and any other the next id from the
            // model's entry count on.
            if (p->added_to_id.contains(a.content)) {
                a.id = p->added_to_id.at(a.content);
                p->added[p->added_by_id.at(a.id)] = a;
                if (a.special)
                    p->special_contents.insert(a.content);
                continue;
            }
            if (auto mid = p->model->token_to_id(a.content)) {
                a.id = *mid;
            } else {
                a.id = next_id++;
            }
            p->added_to_id[a.content] = a.id;
            p->added_by_id[a.id] = p->added.size();
            if (a.special)
                p->special_contents.insert(a.content);
            p->added.push_back(a);
        }
        for (std::size_t i = 0; i < p->added.size(); ++i) {
            const auto& a = p->added[i];
            p->added[i].decoded = a.content;
            if (a.normalized && p->normalizer) {
                normalized_string s(a.content);
                p->normalizer->normalize(s);
                p->normalized_trie.insert(s.text, i);
                p->added[i].decoded = s.text;
            } else if (a.normalized) {
                p->normalized_trie.insert(a.content, i);
            } else {
                p->raw_trie.insert(a.content, i);
            }
        }
    }
    return tokenizer(std::move(p));
}

encoding tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    check_utf8(text);
    return impl_->post_process(impl_->encode_single(text, 0), nullptr, add_special_tokens);
}

encoding tokenizer::encode_pair(std::string_view first, std::string_view second,
                                bool add_special_tokens) const {
    check_utf8(first);
    check_utf8(second);
    encoding b = impl_->encode_single(second, 1);
    return impl_->post_process(impl_->encode_single(first, 0), &b, add_special_tokens);
}

std::vector<encoding> tokenizer::encode_batch(std::span<const std::string> texts,
                                              bool add_special_tokens) const {
    std::vector<encoding> out;
    out.reserve(texts.size());
    for (const auto& t : texts)
        out.push_back(encode(t, add_special_tokens));
    return out;
}

std::string tokenizer::decode(std::span<const std::uint32_t> ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const auto id : ids) {
        const std::string* t = impl_->id_to_token(id);
        if (!t)
            continue;
        if (skip_special_tokens && impl_->special_contents.contains(*t))
            continue;
        tokens.push_back(*t);
    }
    if (impl_->decoder) {
        impl_->decoder->decode_chain(tokens);
        std::string out;
        for (const auto& t : tokens)
            out += t;
        return out;
    }
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i)
            out += ' ';
        out += tokens[i];
    }
    return out;
}

std::optional<std::uint32_t> tokenizer::token_to_id(std::string_view token) const {
    auto it = impl_->added_to_id.find(std::string(token));
    if (it != impl_->added_to_id.end())
        return it->second;
    return impl_->model->token_to_id(token);
}

std::optional<std::string> tokenizer::id_to_token(std::uint32_t id) const {
    const std::string* t = impl_->id_to_token(id);
    if (!t)
        return std::nullopt;
    return *t;
}

std::size_t tokenizer::vocab_size() const {
    std::size_t n = impl_->model->vocab_size();
    for (const auto& a : impl_->added)
        n = std::max<std::size_t>(n, std::size_t{a.id} + 1);
    return n;
}

std::vector<offset_range> to_code_point_offsets(std::string_view text,
                                                std::span<const offset_range> bytes) {
    // index of the character containing each byte
    std::vector<std::size_t> char_of(text.size());
    std::size_t index = 0;
    for (std::size_t i = 0; i < text.size(); ++index) {
        const std::size_t len = detail::utf8_length(static_cast<unsigned char>(text[i]));
        for (std::size_t k = 0; k < len && i + k < text.size(); ++k)
            char_of[i + k] = index;
        i += len;
    }
    std::vector<offset_range> out;
    out.reserve(bytes.size());
    for (const auto& [b, e] : bytes) {
        if (b == e && b == text.size()) {
            // An empty range at the very end: only ByteLevel offset trimming makes one, which
            // the reference does on code-point offsets (it lands on the character count).
            out.emplace_back(index, index);
        } else if (b < text.size() && e < text.size()) {
            out.emplace_back(char_of[b], char_of[e]);
        } else if (b < text.size() && e >= 1) {
            const std::size_t last = e - 1 < text.size() ? char_of[e - 1] : char_of[b] + 1;
            out.emplace_back(char_of[b], last + 1);
        } else {
            out.emplace_back(b, e);
        }
    }
    return out;
}

std::string decode_stream::step(std::uint32_t id) {
    ids_.push_back(id);
    std::string text = tokenizer_->decode(ids_, skip_special_);
    const bool ends_broken =
        text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
    if (text.size() > prefix_.size() && !ends_broken) {
        if (text.compare(0, prefix_.size(), prefix_) != 0) {
            // The decoder rewrote earlier text (it does for a leading-space strip); print the
            // part past the common prefix.
            std::size_t common = 0;
            while (common < prefix_.size() && text[common] == prefix_[common])
                ++common;
            text = text.substr(common);
        } else {
            text = text.substr(prefix_.size());
        }
        const std::size_t new_prefix_index = ids_.size() - prefix_index_;
        ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
        prefix_ = tokenizer_->decode(ids_, skip_special_);
        prefix_index_ = new_prefix_index;
        return text;
    }
    return {};
}

} // namespace ctt::text
