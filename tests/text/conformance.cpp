// Tokenizer conformance runner: `ctt_tokenizer_conformance <case dir>` loads the case's
// tokenizer.json and holds every line of its cases.jsonl to the reference: ids, tokens,
// code-point offsets, decode and decode with special tokens skipped, exactly.
// One executable for every case (tests/text/CMakeLists.txt registers one test per folder).
#include <ctt/text/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string show(const std::string& s) {
    return nlohmann::json(s).dump();
}

template <class T>
std::string show_list(const std::vector<T>& v) {
    return nlohmann::json(v).dump();
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " <case dir>\n";
        return 2;
    }
    const std::string dir = argv[1];
    try {
        const auto tok = ctt::text::tokenizer::from_file(dir + "/tokenizer.json");
        std::ifstream in(dir + "/cases.jsonl", std::ios::binary);
        if (!in) {
            std::cerr << "cannot open " << dir << "/cases.jsonl\n";
            return 2;
        }
        std::string line;
        int lines = 0, failures = 0;
        while (std::getline(in, line)) {
            if (line.empty())
                continue;
            ++lines;
            const auto c = nlohmann::json::parse(line);
            const std::string text = c.at("text").get<std::string>();
            const bool add = c.at("add_special_tokens").get<bool>();
            std::vector<std::string> problems;
            try {
                const auto e = tok.encode(text, add);
                const auto ids = c.at("ids").get<std::vector<std::uint32_t>>();
                const auto tokens = c.at("tokens").get<std::vector<std::string>>();
                std::vector<std::pair<std::size_t, std::size_t>> offsets;
                for (const auto& o : c.at("offsets"))
                    offsets.emplace_back(o.at(0).get<std::size_t>(), o.at(1).get<std::size_t>());
                const auto ours_offsets = ctt::text::to_code_point_offsets(text, e.offsets);
                if (e.ids != ids)
                    problems.push_back("ids " + show_list(e.ids) + " != " + show_list(ids));
                if (e.tokens != tokens)
                    problems.push_back("tokens " + show_list(e.tokens) +
                                       " != " + show_list(tokens));
                if (ours_offsets != offsets)
                    problems.push_back("offsets " + nlohmann::json(ours_offsets).dump() +
                                       " != " + nlohmann::json(offsets).dump());
                const auto decoded = tok.decode(ids, false);
                if (decoded != c.at("decoded").get<std::string>())
                    problems.push_back("decoded " + show(decoded) +
                                       " != " + c.at("decoded").dump());
                const auto decoded_skip = tok.decode(ids, true);
                if (decoded_skip != c.at("decoded_skip").get<std::string>())
                    problems.push_back("decoded_skip " + show(decoded_skip) +
                                       " != " + c.at("decoded_skip").dump());
            } catch (const std::exception& ex) {
                problems.push_back(std::string("threw: ") + ex.what());
            }
            if (!problems.empty()) {
                ++failures;
                if (failures <= 8) {
                    std::cout << "FAIL line " << lines << " text " << show(text)
                              << " add_special_tokens " << add << "\n";
                    for (const auto& p : problems)
                        std::cout << "  " << p << "\n";
                }
            }
        }
        std::cout << dir << ": " << (lines - failures) << "/" << lines << " lines pass\n";
        if (lines == 0) {
            std::cout << "no cases\n";
            return 1;
        }
        return failures == 0 ? 0 : 1;
    } catch (const std::exception& ex) {
        std::cout << dir << ": " << ex.what() << "\n";
        return 1;
    }
}
