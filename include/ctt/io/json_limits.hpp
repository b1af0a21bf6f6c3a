#pragma once
/**
 * @file
 * @brief JSON from strangers, parsed within bounds: total size, nesting depth, the length of
 *        every string (keys included), and optionally no repeated keys.
 *
 * A `config.json`, a `tokenizer.json` or a safetensors header comes from whoever published the
 * checkpoint. nlohmann's parser accepts any depth and any string length, so a few hundred bytes
 * of `[[[[...` or one 2 GB string would cost memory out of proportion to anything a model
 * needs. `parse_json_within` checks each bound while parsing (the parser's callback sees every
 * opening bracket, key and value before it is stored) and throws `io_error` naming the
 * document and the bound.
 */

#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"

namespace ctt {

/// The bounds `parse_json_within` enforces.
struct json_limits {
    /// Longest document accepted, in bytes.
    std::size_t max_bytes = 64u << 20;
    /// Deepest nesting of objects and arrays (the top-level value is depth 1).
    int max_depth = 32;
    /// Longest string (value or key), in bytes once unescaped.
    std::size_t max_string_bytes = 1u << 20;
    /// Refuse an object that repeats a key (JSON leaves the meaning of a repeat open).
    bool unique_keys = false;
};

/**
 * @brief Parses `text` as JSON within `limits`.
 * @param label names the document in messages (`"config.json"`, a file path).
 * @throws io_error `"<label>: <what>"` for malformed JSON or a bound exceeded, e.g.
 *         `"config.json: JSON nests deeper than 32 levels"`.
 */
[[nodiscard]] inline nlohmann::json
parse_json_within(std::string_view text, const json_limits& limits, std::string_view label) {
    const auto fail = [&](const std::string& what) {
        throw io_error(detail::message(std::string(label), ": ", what));
    };
    if (text.size() > limits.max_bytes) {
        fail(detail::message("document is ", std::to_string(text.size()),
                             " bytes, more than the limit of ", std::to_string(limits.max_bytes)));
    }
    std::vector<std::set<std::string, std::less<>>> keys_seen;
    const nlohmann::json::parser_callback_t on_event =
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            using ev = nlohmann::json::parse_event_t;
            const bool opens = event == ev::object_start || event == ev::array_start;
            // `depth` counts the containers already open around this one.
            if (opens && depth >= limits.max_depth) {
                fail(detail::message("JSON nests deeper than ", std::to_string(limits.max_depth),
                                     " levels"));
            }
            if ((event == ev::key || event == ev::value) && parsed.is_string() &&
                parsed.get_ref<const std::string&>().size() > limits.max_string_bytes) {
                fail(detail::message(
                    "a string of ", std::to_string(parsed.get_ref<const std::string&>().size()),
                    " bytes exceeds the limit of ", std::to_string(limits.max_string_bytes)));
            }
            if (!limits.unique_keys) {
                return true;
            }
            if (event == ev::object_start) {
                keys_seen.emplace_back();
            } else if (event == ev::object_end && !keys_seen.empty()) {
                keys_seen.pop_back();
            } else if (event == ev::key && !keys_seen.empty()) {
                const auto& key = parsed.get_ref<const std::string&>();
                if (!keys_seen.back().insert(key).second) {
                    std::string shown = key.substr(0, 120);
                    if (key.size() > shown.size()) {
                        shown += "...";
                    }
                    fail("an object repeats the key '" + shown + "'");
                }
            }
            return true;
        };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), on_event);
    } catch (const nlohmann::json::exception& e) {
        // The parser quotes the offending token, which a hostile document can make huge.
        std::string reason = e.what();
        if (reason.size() > 300) {
            reason = reason.substr(0, 300) + "...";
        }
        fail("not valid JSON (" + reason + ")");
    }
    return {}; // not reached
}

} // namespace ctt
