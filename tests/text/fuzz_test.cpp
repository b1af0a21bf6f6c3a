// Fuzz-style tests of ctt::text, meant to run under ASan + UBSan (the test-asan preset): random
// bytes and random code points into encode and decode of real tokenizers, and mutated or hostile
// tokenizer.json documents into the loader. Every call must either succeed or throw
// tokenizer_error; anything else (a crash, another exception, a sanitizer report) fails.
#include <ctt/text/tokenizer.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using ctt::text::tokenizer;
using ctt::text::tokenizer_error;

namespace {

const std::filesystem::path cases = std::filesystem::path(CTT_TEST_DATA_DIR) / "tokenizers" / "A";

std::string read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string random_code_points(std::mt19937& rng, std::size_t n) {
    static const std::vector<std::pair<char32_t, char32_t>> blocks{
        {0x0, 0x7F},      {0x80, 0x24F},      {0x300, 0x36F},     {0x370, 0x4FF},
        {0x600, 0x6FF},   {0x900, 0x97F},     {0x1100, 0x11FF},   {0x2000, 0x206F},
        {0x3000, 0x30FF}, {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},   {0xE000, 0xF8FF},
        {0xFB00, 0xFFFF}, {0x1F300, 0x1FAFF}, {0x20000, 0x2A6DF}, {0x10FFF0, 0x10FFFF}};
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& [lo, hi] = blocks[rng() % blocks.size()];
        char32_t c = lo + static_cast<char32_t>(rng() % (hi - lo + 1));
        if (c >= 0xD800 && c <= 0xDFFF)
            c = 0xFFFD;
        if (c < 0x80) {
            s.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
            s.push_back(static_cast<char>(0xC0 | (c >> 6)));
            s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
            s.push_back(static_cast<char>(0xE0 | (c >> 12)));
            s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else {
            s.push_back(static_cast<char>(0xF0 | (c >> 18)));
            s.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
            s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return s;
}

/** Encodes and decodes; checks the invariants that hold for every tokenizer. */
void exercise(const tokenizer& t, const std::string& text) {
    ctt::text::encoding e;
    try {
        e = t.encode(text, true);
    } catch (const tokenizer_error&) {
        return; // invalid UTF-8 (or a model with no way to spell a character): a clean refusal
    }
    REQUIRE(e.tokens.size() == e.ids.size());
    REQUIRE(e.offsets.size() == e.ids.size());
    for (const auto& [b, end] : e.offsets) {
        REQUIRE(b <= end);
        REQUIRE(end <= text.size());
    }
    const auto cps = ctt::text::to_code_point_offsets(text, e.offsets);
    REQUIRE(cps.size() == e.offsets.size());
    (void)t.decode(e.ids, false);
    (void)t.decode(e.ids, true);
    ctt::text::decode_stream stream(t);
    std::string streamed;
    for (const auto id : e.ids)
        streamed += stream.step(id);
    // Streaming never emits a broken character: what it printed is valid UTF-8.
    REQUIRE_NOTHROW((void)t.encode(streamed, false));
}

} // namespace

TEST_CASE("random bytes and random code points into every shipped tokenizer") {
    std::mt19937 rng(20260612);
    for (const auto& entry : std::filesystem::directory_iterator(cases)) {
        if (!std::filesystem::exists(entry.path() / "tokenizer.json"))
            continue;
        const auto t = tokenizer::from_file(entry.path() / "tokenizer.json");
        CAPTURE(entry.path().filename().string());
        for (int round = 0; round < 40; ++round) {
            std::string bytes(rng() % 64, '\0');
            for (auto& b : bytes)
                b = static_cast<char>(rng() & 0xFF);
            exercise(t, bytes);
            exercise(t, random_code_points(rng, rng() % 48));
        }
        // Random ids, in range and out of it, into decode.
        std::vector<std::uint32_t> ids(64);
        for (auto& id : ids)
            id = static_cast<std::uint32_t>(rng() % (t.vocab_size() + 100));
        (void)t.decode(ids, false);
        (void)t.decode(ids, true);
    }
}

TEST_CASE("mutated and hostile tokenizer.json documents are refused cleanly") {
    std::mt19937 rng(7);
    const std::string base = read(cases / "trained_wordlevel" / "tokenizer.json");
    const std::string unigram = read(cases / "trained_unigram_t5" / "tokenizer.json");
    auto attempt = [](const std::string& doc) {
        try {
            const auto t = tokenizer::from_json(doc);
            exercise(t, "Hello, world! 123 caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87");
        } catch (const tokenizer_error&) {
        }
    };
    for (int round = 0; round < 300; ++round) {
        std::string doc = round % 2 ? base : unigram;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits; ++k) {
            const std::size_t at = rng() % doc.size();
            switch (rng() % 4) {
            case 0:
                doc[at] = static_cast<char>(rng() & 0xFF);
                break;
            case 1:
                doc.erase(at, 1 + rng() % 16);
                break;
            case 2:
                doc.insert(at, 1, "{}[]\":,0-9e"[rng() % 11]);
                break;
            default:
                doc.resize(at);
                break;
            }
        }
        attempt(doc);
    }
    const std::vector<std::string> hostile{
        "",
        "null",
        "[]",
        R"({"model":null})",
        R"({"model":{"type":"BPE","vocab":{"a":4294967295},"merges":[]}})",
        R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}})",
        R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}})",
        R"({"model":{"type":"BPE","continuing_subword_prefix":"####","vocab":{"a":0,"b":1},"merges":[["a","b"]]}})",
        R"({"model":{"type":"Unigram","unk_id":5,"vocab":[["a",0.0]]}})",
        R"({"model":{"type":"Unigram","vocab":[["a","x"]]}})",
        R"({"model":{"type":"Unigram","vocab":[["a",0.0]]}})",
        R"({"model":{"type":"WordPiece","vocab":{"a":0}}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"normalizer":{"type":"Precompiled","precompiled_charsmap":"AAAAAP////8="}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"normalizer":{"type":"Precompiled","precompiled_charsmap":"CAAAAP///////////w=="}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a|"},"behavior":"Isolated"}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"a*"},"behavior":"Isolated"}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"pre_tokenizer":{"type":"Metaspace","replacement":"ab"}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"X","type_id":0}}],"pair":[],"special_tokens":{}}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"decoder":{"type":"Strip","content":" ","start":99999999,"stop":99999999}})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"added_tokens":[{"id":0,"content":"\ud800"}]})",
        R"({"model":{"type":"WordLevel","vocab":{"a":0}},"normalizer":{"type":"Sequence","normalizers":[{"type":"Sequence","normalizers":[{"type":"Replace","pattern":{"Regex":""},"content":"x"}]}]}})",
    };
    for (const auto& doc : hostile) {
        CAPTURE(doc);
        attempt(doc);
    }
}

TEST_CASE("tokenizer.json is parsed within bounds of depth and string length") {
    std::string deep;
    for (int i = 0; i < 65; ++i) {
        deep += R"({"type":"Sequence","normalizers":[)";
    }
    CHECK_THROWS_WITH_AS((void)tokenizer::from_json(R"({"model":)" + deep),
                         "tokenizer.json: JSON nests deeper than 64 levels", tokenizer_error);
    CHECK_THROWS_WITH_AS((void)tokenizer::from_json(R"({"model":{"type":"WordLevel","vocab":{")" +
                                                    std::string((16u << 20) + 1, 'a') +
                                                    R"(":0}}})"),
                         "tokenizer.json: a string of 16777217 bytes exceeds the limit of 16777216",
                         tokenizer_error);
    // Within the bounds, a document that is otherwise valid loads.
    CHECK(tokenizer::from_json(R"({"model":{"type":"WordLevel","vocab":{")" +
                               std::string(1000, 'a') + R"(":0},"unk_token":")" +
                               std::string(1000, 'a') + R"("}})")
              .vocab_size() == 1);
}
