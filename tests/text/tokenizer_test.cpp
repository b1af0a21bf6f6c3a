// Unit tests of ctt::text, one component at a time, on small tokenizer.json documents written
// here (the expected values follow the reference's rules; the conformance cases check real
// files).
#include <ctt/text/tokenizer.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using ctt::text::decode_stream;
using ctt::text::tokenizer;
using ctt::text::tokenizer_error;

namespace {

/** A tokenizer.json with the given model and optional components (JSON text, or "null"). */
std::string document(const std::string& model, const std::string& normalizer = "null",
                     const std::string& pre_tokenizer = "null",
                     const std::string& post_processor = "null",
                     const std::string& decoder = "null", const std::string& added = "[]") {
    return R"({"version":"1.0","truncation":null,"padding":null,"added_tokens":)" + added +
           R"(,"normalizer":)" + normalizer + R"(,"pre_tokenizer":)" + pre_tokenizer +
           R"(,"post_processor":)" + post_processor + R"(,"decoder":)" + decoder + R"(,"model":)" +
           model + "}";
}

const std::string wordlevel =
    R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"hello":1,"world":2,"!":3,"cafe":4,"café":5,"a":6,"b":7,"1":8,"2":9,"12":10,"▁hello":11,"▁world":12,"x":13}})";

std::vector<std::string> tokens_of(const tokenizer& t, const std::string& text) {
    return t.encode(text, false).tokens;
}

} // namespace

TEST_CASE("WordLevel with WhitespaceSplit: ids, tokens, byte offsets, unknown words") {
    const auto t =
        tokenizer::from_json(document(wordlevel, "null", R"({"type":"WhitespaceSplit"})"));
    const auto e = t.encode("hello  world zzz", false);
    CHECK(e.ids == std::vector<std::uint32_t>{1, 2, 0});
    CHECK(e.tokens == std::vector<std::string>{"hello", "world", "[UNK]"});
    CHECK(e.offsets == std::vector<ctt::text::offset_range>{{0, 5}, {7, 12}, {13, 16}});
    CHECK(t.token_to_id("world") == 2u);
    CHECK(t.id_to_token(3) == "!");
    CHECK(!t.id_to_token(999).has_value());
    CHECK(t.decode(std::vector<std::uint32_t>{1, 2}) ==
          "hello world"); // no decoder: joined by spaces
}

TEST_CASE("normalizers: Lowercase, NFD + StripAccents, NFC, NFKC, Strip, Replace, Prepend") {
    SUBCASE("lowercase and strip accents keep the original offsets") {
        const auto t = tokenizer::from_json(document(
            wordlevel,
            R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"},{"type":"Lowercase"}]})",
            R"({"type":"WhitespaceSplit"})"));
        const auto e = t.encode("CAFÉ Hello", false);
        CHECK(e.tokens == std::vector<std::string>{"cafe", "hello"});
        CHECK(e.offsets == std::vector<ctt::text::offset_range>{{0, 5}, {6, 11}}); // É is 2 bytes
    }
    SUBCASE("NFC composes e + combining acute") {
        const auto t = tokenizer::from_json(
            document(wordlevel, R"({"type":"NFC"})", R"({"type":"WhitespaceSplit"})"));
        const auto e = t.encode("cafe\xCC\x81", false);
        CHECK(e.tokens == std::vector<std::string>{"café"});
        // the composed character is aligned with its starter only, as in the reference
        CHECK(e.offsets.front() == ctt::text::offset_range{0, 4});
    }
    SUBCASE("NFKC maps compatibility digits") {
        const auto t = tokenizer::from_json(
            document(wordlevel, R"({"type":"NFKC"})", R"({"type":"WhitespaceSplit"})"));
        CHECK(tokens_of(t, "\xEF\xBC\x91\xEF\xBC\x92") ==
              std::vector<std::string>{"12"}); // fullwidth 12
    }
    SUBCASE("Strip removes surrounding whitespace") {
        const auto t = tokenizer::from_json(
            document(wordlevel, R"({"type":"Strip","strip_left":true,"strip_right":true})"));
        const auto e = t.encode("  hello \n", false);
        CHECK(e.tokens == std::vector<std::string>{"hello"});
        CHECK(e.offsets.front() == ctt::text::offset_range{2, 7});
    }
    SUBCASE("Replace with a regex and Prepend, as SentencePiece layouts use them") {
        const auto t = tokenizer::from_json(document(
            wordlevel,
            R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]})",
            R"({"type":"Split","pattern":{"Regex":"▁[^▁]*"},"behavior":"Isolated","invert":false})"));
        const auto e = t.encode("hello world", false);
        CHECK(e.tokens == std::vector<std::string>{"▁hello", "▁world"});
        CHECK(e.offsets == std::vector<ctt::text::offset_range>{{0, 5}, {5, 11}});
    }
}

TEST_CASE(
    "Precompiled (SentencePiece charsmap): a hand-built double array, as the reference reads it") {
    // darts-clone units mapping "A" -> "a" and "\u00e9" -> "e" (tests/text: built by hand, the
    // reference library gives the same tokens and offsets for these texts)
    const std::string charsmap =
        "sAUAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABBBQAAAAAAgAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwwYAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAgKkFAABhAGUA";
    const auto t = tokenizer::from_json(document(
        R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1,"e":2,"ae":3,"x":4,"ea":5}})",
        R"({"type":"Precompiled","precompiled_charsmap":")" + charsmap + R"("})",
        R"({"type":"WhitespaceSplit"})"));
    const auto e = t.encode("A \u00e9 A\u00e9 x", false);
    CHECK(e.tokens == std::vector<std::string>{"a", "e", "ae", "x"});
    CHECK(ctt::text::to_code_point_offsets("A \u00e9 A\u00e9 x", e.offsets) ==
          std::vector<ctt::text::offset_range>{{0, 1}, {2, 3}, {4, 6}, {7, 8}});
    CHECK(t.encode("\u00e9A", false).tokens == std::vector<std::string>{"ea"});
    // a decomposed e + U+0301 is one grapheme with no entry: left as it is
    CHECK(t.encode("e\u0301A", false).ids == std::vector<std::uint32_t>{0});
}

TEST_CASE("BertNormalizer and BertPreTokenizer: Chinese characters, punctuation, control text") {
    const auto t = tokenizer::from_json(document(
        R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"hello":1,"中":2,"文":3,",":4,"ok":5}})",
        R"({"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true})",
        R"({"type":"BertPreTokenizer"})"));
    const auto e = t.encode("HeLLo,中文\x01ok", false);
    CHECK(e.tokens == std::vector<std::string>{"hello", ",", "中", "文", "ok"});
    CHECK(e.offsets ==
          std::vector<ctt::text::offset_range>{{0, 5}, {5, 6}, {6, 9}, {9, 12}, {13, 15}});
}

TEST_CASE("pre-tokenizers: Split behaviours, invert, Digits, Punctuation, Metaspace, Whitespace") {
    auto split = [](const std::string& behavior, bool invert) {
        return tokenizer::from_json(
            document(wordlevel, "null",
                     R"({"type":"Split","pattern":{"String":"-"},"behavior":")" + behavior +
                         R"(","invert":)" + (invert ? "true" : "false") + "}"));
    };
    CHECK(tokens_of(split("Removed", false), "a-b") == std::vector<std::string>{"a", "b"});
    CHECK(tokens_of(split("Isolated", false), "a-b").size() == 3);
    CHECK(split("MergedWithPrevious", false).encode("a-b", false).offsets ==
          std::vector<ctt::text::offset_range>{{0, 2}, {2, 3}});
    CHECK(split("MergedWithNext", false).encode("a-b", false).offsets ==
          std::vector<ctt::text::offset_range>{{0, 1}, {1, 3}});
    CHECK(split("Contiguous", false).encode("a--b", false).offsets ==
          std::vector<ctt::text::offset_range>{{0, 1}, {1, 3}, {3, 4}});
    CHECK(split("Removed", true).encode("a-b", false).offsets ==
          std::vector<ctt::text::offset_range>{{1, 2}});

    const auto digits = tokenizer::from_json(
        document(wordlevel, "null", R"({"type":"Digits","individual_digits":true})"));
    CHECK(tokens_of(digits, "12") == std::vector<std::string>{"1", "2"});
    const auto digits_joined = tokenizer::from_json(
        document(wordlevel, "null", R"({"type":"Digits","individual_digits":false})"));
    CHECK(tokens_of(digits_joined, "12") == std::vector<std::string>{"12"});

    const auto punct = tokenizer::from_json(
        document(wordlevel, "null", R"({"type":"Punctuation","behavior":"Isolated"})"));
    CHECK(tokens_of(punct, "hello!") == std::vector<std::string>{"hello", "!"});

    const auto ws = tokenizer::from_json(document(wordlevel, "null", R"({"type":"Whitespace"})"));
    CHECK(tokens_of(ws, "hello!! world") == std::vector<std::string>{"hello", "[UNK]", "world"});

    const auto meta = tokenizer::from_json(document(
        wordlevel, "null",
        R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})", "null",
        R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})"));
    const auto e = meta.encode("hello world", false);
    CHECK(e.tokens == std::vector<std::string>{"▁hello", "▁world"});
    CHECK(meta.decode(e.ids) == "hello world");
}

TEST_CASE("UnicodeScripts splits where the script changes") {
    const auto t = tokenizer::from_json(
        document(R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"abc":1,"αβ":2}})",
                 "null", R"({"type":"UnicodeScripts"})"));
    CHECK(tokens_of(t, "abcαβ") == std::vector<std::string>{"abc", "αβ"});
}

TEST_CASE("byte-level BPE: merges by rank, as strings or pairs, ByteLevel decoder") {
    // vocabulary over the GPT-2 byte alphabet: "Ġ" is the space byte
    const std::string vocab =
        R"({"a":0,"b":1,"c":2,"Ġ":3,"ab":4,"abc":5,"Ġa":6,"bc":7,"Ã":8,"©":9,"Ã©":10})";
    for (const std::string& merges :
         {std::string(R"(["a b","ab c","Ġ a","b c","Ã ©"])"),
          std::string(R"([["a","b"],["ab","c"],["Ġ","a"],["b","c"],["Ã","©"]])")}) {
        const auto t = tokenizer::from_json(document(
            R"({"type":"BPE","dropout":null,"unk_token":null,"vocab":)" + vocab + R"(,"merges":)" +
                merges + "}",
            "null",
            R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true})",
            "null", R"({"type":"ByteLevel"})"));
        const auto e = t.encode("abc ab é", false);
        // " ab": "a b" (rank 0) merges before "Ġ a" (rank 2), and "Ġ ab" is no merge
        CHECK(e.tokens == std::vector<std::string>{"abc", "Ġ", "ab", "Ġ", "Ã©"});
        CHECK(e.offsets ==
              std::vector<ctt::text::offset_range>{{0, 3}, {3, 4}, {4, 6}, {6, 7}, {7, 9}});
        CHECK(t.decode(e.ids) == "abc ab é");
    }
}

TEST_CASE("BPE: ignore_merges, continuing_subword_prefix, end_of_word_suffix, unk and fuse_unk") {
    SUBCASE("ignore_merges takes a whole word in the vocabulary as one token") {
        const auto t = tokenizer::from_json(document(
            R"({"type":"BPE","ignore_merges":true,"vocab":{"a":0,"b":1,"c":2,"abc":3},"merges":[]})"));
        CHECK(t.encode("abc", false).ids == std::vector<std::uint32_t>{3});
        CHECK(t.encode("acb", false).ids == std::vector<std::uint32_t>{0, 2, 1});
    }
    SUBCASE("prefix and suffix") {
        const auto t = tokenizer::from_json(document(
            R"({"type":"BPE","continuing_subword_prefix":"##","end_of_word_suffix":"</w>","vocab":{"a":0,"##b":1,"##c</w>":2,"a##b":3,"ab":4,"ab##c</w>":5,"abc</w>":6},"merges":[["a","##b"],["ab","##c</w>"]]})",
            "null", "null", "null", R"({"type":"BPEDecoder","suffix":"</w>"})"));
        const auto e = t.encode("abc", false);
        CHECK(e.tokens == std::vector<std::string>{"abc</w>"});
    }
    SUBCASE("unknown characters: separate or fused") {
        for (bool fuse : {false, true}) {
            const auto t = tokenizer::from_json(
                document(std::string(R"({"type":"BPE","unk_token":"<unk>","fuse_unk":)") +
                         (fuse ? "true" : "false") + R"(,"vocab":{"<unk>":0,"a":1},"merges":[]})"));
            const auto e = t.encode("axya", false);
            CHECK(e.ids == (fuse ? std::vector<std::uint32_t>{1, 0, 1}
                                 : std::vector<std::uint32_t>{1, 0, 0, 1}));
        }
    }
    SUBCASE("byte_fallback gives <0xNN> tokens; ByteFallback + Fuse decode them") {
        const auto t = tokenizer::from_json(document(
            R"({"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":true,"vocab":{"<unk>":0,"a":1,"<0xC3>":2,"<0xA9>":3},"merges":[]})",
            "null", "null", "null",
            R"({"type":"Sequence","decoders":[{"type":"ByteFallback"},{"type":"Fuse"}]})"));
        const auto e = t.encode("aé", false);
        CHECK(e.tokens == std::vector<std::string>{"a", "<0xC3>", "<0xA9>"});
        CHECK(t.decode(e.ids) == "aé");
        CHECK(t.decode(std::vector<std::uint32_t>{1, 2}) == "a\xEF\xBF\xBD"); // lone lead byte
    }
    SUBCASE("dropout other than null is refused") {
        CHECK_THROWS_WITH_AS((void)tokenizer::from_json(document(
                                 R"({"type":"BPE","dropout":0.1,"vocab":{"a":0},"merges":[]})")),
                             doctest::Contains("$.model.dropout"), tokenizer_error);
    }
}

TEST_CASE("WordPiece: longest match first, ## continuation, [UNK] for a word, long words") {
    const auto t = tokenizer::from_json(document(
        R"({"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":5,"vocab":{"[UNK]":0,"un":1,"##aff":2,"##able":3,"aff":4,"##a":5}})",
        "null", R"({"type":"WhitespaceSplit"})", "null",
        R"({"type":"WordPiece","prefix":"##","cleanup":true})"));
    const auto e = t.encode("unaff affable unxx", false);
    CHECK(e.tokens == std::vector<std::string>{"un", "##aff", "[UNK]", "[UNK]"});
    CHECK(e.offsets == std::vector<ctt::text::offset_range>{{0, 2}, {2, 5}, {6, 13}, {14, 18}});
    CHECK(t.decode(std::vector<std::uint32_t>{1, 2, 4}) == "unaff aff");
}

TEST_CASE("Unigram: Viterbi picks the best-scoring segmentation; unknowns fused to unk_id") {
    const auto t = tokenizer::from_json(document(
        R"({"type":"Unigram","unk_id":0,"byte_fallback":false,"vocab":[["<unk>",0.0],["a",-1.0],["b",-1.0],["ab",-1.5],["abc",-5.0],["c",-1.0]]})"));
    CHECK(t.encode("abc", false).tokens == std::vector<std::string>{"ab", "c"});
    const auto e = t.encode("axyb", false);
    CHECK(e.ids == std::vector<std::uint32_t>{1, 0, 2});
    CHECK(e.tokens == std::vector<std::string>{"a", "xy", "b"}); // the unknown text itself
}

TEST_CASE("post-processors: TemplateProcessing, BertProcessing, RobertaProcessing, pairs") {
    const std::string vocab =
        R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"a":3,"b":4}})";
    const std::string added =
        R"([{"id":1,"content":"[CLS]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":2,"content":"[SEP]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}])";
    SUBCASE("template") {
        const auto t = tokenizer::from_json(document(
            vocab, "null", R"({"type":"WhitespaceSplit"})",
            R"({"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],"pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],"special_tokens":{"[CLS]":{"id":"[CLS]","ids":[1],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[2],"tokens":["[SEP]"]}}})",
            "null", added));
        const auto e = t.encode_pair("a", "b a");
        CHECK(e.ids == std::vector<std::uint32_t>{1, 3, 2, 4, 3, 2});
        CHECK(e.type_ids == std::vector<std::uint32_t>{0, 0, 0, 1, 1, 1});
        CHECK(e.special_tokens_mask == std::vector<std::uint8_t>{1, 0, 1, 0, 0, 1});
        CHECK(e.offsets[4] == ctt::text::offset_range{2, 3}); // offsets in the second text
        CHECK(t.encode("a", false).ids == std::vector<std::uint32_t>{3});
        CHECK(t.decode(e.ids, true) == "a b a");
        CHECK(t.decode(e.ids, false) == "[CLS] a [SEP] b a [SEP]");
    }
    SUBCASE("bert") {
        const auto t = tokenizer::from_json(document(
            vocab, "null", R"({"type":"WhitespaceSplit"})",
            R"({"type":"BertProcessing","sep":["[SEP]",2],"cls":["[CLS]",1]})", "null", added));
        const auto e = t.encode_pair("a", "b");
        CHECK(e.ids == std::vector<std::uint32_t>{1, 3, 2, 4, 2});
        CHECK(e.type_ids == std::vector<std::uint32_t>{0, 0, 0, 1, 1});
    }
    SUBCASE("roberta: </s></s> between the pair, all type ids 0") {
        const auto t = tokenizer::from_json(document(
            vocab, "null", R"({"type":"WhitespaceSplit"})",
            R"({"type":"RobertaProcessing","sep":["[SEP]",2],"cls":["[CLS]",1],"trim_offsets":true,"add_prefix_space":false})",
            "null", added));
        const auto e = t.encode_pair("a", "b");
        CHECK(e.ids == std::vector<std::uint32_t>{1, 3, 2, 2, 4, 2});
        CHECK(e.type_ids == std::vector<std::uint32_t>(6, 0));
    }
}

TEST_CASE("added tokens: special skipped in decode, lstrip/rstrip, single_word, normalized") {
    const std::string model =
        R"({"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1,"b":2,"<m>":3,"ab":4}})";
    const auto t = tokenizer::from_json(document(
        model, R"({"type":"Lowercase"})", R"({"type":"WhitespaceSplit"})", "null", "null",
        R"([{"id":3,"content":"<m>","single_word":false,"lstrip":true,"rstrip":true,"normalized":false,"special":true},
            {"id":5,"content":"XY","single_word":true,"lstrip":false,"rstrip":false,"normalized":true,"special":false}])"));
    const auto e = t.encode("a  <m>  b", false);
    CHECK(e.ids == std::vector<std::uint32_t>{1, 3, 2});
    CHECK(e.tokens[1] == "  <m>  "); // the stripped spaces belong to the token, as in the reference
    CHECK(e.offsets[1] == ctt::text::offset_range{1, 8});
    CHECK(t.decode(e.ids, true) == "a b");
    // "XY" is normalized (lowercased) before matching; single_word needs word boundaries
    CHECK(t.encode("a xy b", false).ids == std::vector<std::uint32_t>{1, 5, 2});
    CHECK(t.encode("axy", false).ids == std::vector<std::uint32_t>{0});
    CHECK(t.token_to_id("XY") == 5u);
    CHECK(t.vocab_size() == 6);
}

TEST_CASE("decoders: Strip, Replace, CTC, WordPiece cleanup") {
    const std::string model =
        R"({"type":"WordLevel","unk_token":"<pad>","vocab":{"<pad>":0,"h":1,"e":2,"l":3,"o":4,"|":5,"▁hi":6,",":7}})";
    const auto ctc = tokenizer::from_json(document(
        model, "null", "null", "null",
        R"({"type":"CTC","pad_token":"<pad>","word_delimiter_token":"|","cleanup":true})"));
    CHECK(ctc.decode(std::vector<std::uint32_t>{1, 1, 2, 3, 0, 3, 4, 5, 1}) == "hello h");
    const auto seq = tokenizer::from_json(document(
        model, "null", "null", "null",
        R"({"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]})"));
    CHECK(seq.decode(std::vector<std::uint32_t>{6, 6}) == "hi hi");
}

TEST_CASE("code-point offsets: a range ending inside a character stops before it") {
    const std::string text = "a\xE4\xB8\xAD"; // "a中"
    const std::vector<ctt::text::offset_range> bytes{{0, 1}, {1, 2}, {1, 4}, {2, 4}};
    const auto cps = ctt::text::to_code_point_offsets(text, bytes);
    CHECK(cps == std::vector<ctt::text::offset_range>{{0, 1}, {1, 1}, {1, 2}, {1, 2}});
}

TEST_CASE("streaming decode never prints half a character") {
    const auto t = tokenizer::from_json(document(
        R"({"type":"BPE","unk_token":"<unk>","byte_fallback":true,"vocab":{"<unk>":0,"▁a":1,"<0xE4>":2,"<0xB8>":3,"<0xAD>":4},"merges":[]})",
        "null", "null", "null",
        R"({"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"}]})"));
    decode_stream stream(t);
    std::vector<std::string> pieces;
    for (std::uint32_t id : {1u, 2u, 3u, 4u, 1u})
        pieces.push_back(stream.step(id));
    CHECK(pieces == std::vector<std::string>{" a", "", "", "\xE4\xB8\xAD", " a"});
}

TEST_CASE("errors name the component and its JSON path") {
    CHECK_THROWS_WITH_AS((void)tokenizer::from_json(document(wordlevel, R"({"type":"Fancy"})")),
                         doctest::Contains("$.normalizer.type"), tokenizer_error);
    CHECK_THROWS_WITH_AS(
        (void)tokenizer::from_json(
            document(wordlevel,
                     R"({"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"NFC","x":1}]})")),
        doctest::Contains("$.normalizer.normalizers[1].x"), tokenizer_error);
    CHECK_THROWS_WITH_AS(
        (void)tokenizer::from_json(document(R"({"type":"BPE","vocab":{"a":0},"merges":["a b"]})")),
        doctest::Contains("$.model.merges[0]"), tokenizer_error);
    CHECK_THROWS_WITH_AS(
        (void)tokenizer::from_json(document(
            wordlevel, "null",
            R"({"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated","invert":false})")),
        doctest::Contains("$.pre_tokenizer.pattern"), tokenizer_error);
    CHECK_THROWS_AS((void)tokenizer::from_json("{not json"), tokenizer_error);
    const auto t = tokenizer::from_json(document(wordlevel));
    CHECK_THROWS_WITH_AS((void)t.encode("ok\xFFno"), doctest::Contains("byte 2"), tokenizer_error);
}
