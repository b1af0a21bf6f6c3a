// libFuzzer target for ctt::text. The first byte picks what the rest is:
//   even: a tokenizer.json document, loaded, then asked to encode, pair-encode and decode;
//   odd:  text for one of the shipped trained tokenizers (byte-level BPE, Unigram, WordPiece),
//         encoded, and its bytes read as ids to decode, plain and streamed.
// Every call either succeeds or throws `tokenizer_error`; nothing else may happen.
#include <ctt/text/tokenizer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ctt::text::tokenizer;
using ctt::text::tokenizer_error;

void exercise(const tokenizer& t, std::string_view text) {
    const auto e = t.encode(text);
    (void)t.decode(e.ids);
    (void)t.decode(e.ids, true);
    (void)ctt::text::to_code_point_offsets(text, e.offsets);
    const auto half = text.substr(0, text.size() / 2);
    const auto pair = t.encode_pair(half, text.substr(half.size()));
    (void)t.decode(pair.ids);
    // The text's bytes as ids, in range and out of it.
    std::vector<std::uint32_t> ids;
    for (std::size_t i = 0; i + 2 <= text.size(); i += 2) {
        std::uint16_t v = 0;
        std::memcpy(&v, text.data() + i, 2);
        ids.push_back(v % 2 == 0 ? v % (t.vocab_size() + 8) : v);
    }
    (void)t.decode(ids);
    ctt::text::decode_stream stream(t);
    for (std::uint32_t id : ids) {
        (void)stream.step(id);
    }
    for (std::uint32_t id : ids) {
        (void)t.id_to_token(id);
    }
    (void)t.token_to_id(text);
}

const std::vector<std::unique_ptr<tokenizer>>& shipped() {
    static const auto all = [] {
        std::vector<std::unique_ptr<tokenizer>> out;
        for (const char* name :
             {"trained_bytelevel_bpe", "trained_unigram_t5", "trained_wordpiece"}) {
            out.push_back(std::make_unique<tokenizer>(tokenizer::from_file(
                std::string(CTT_TEST_DATA_DIR) + "/tokenizers/A/" + name + "/tokenizer.json")));
        }
        return out;
    }();
    return all;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (data[0] % 2 == 0) {
            const auto t = tokenizer::from_json(rest);
            exercise(t, "Hello, world! 123 caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 a  b");
            exercise(t, rest.substr(0, 64));
        } else {
            const auto& all = shipped();
            exercise(*all[(data[0] / 2) % all.size()], rest);
        }
    } catch (const tokenizer_error&) {
    }
    return 0;
}
