// Encode throughput of ctt::text (MB/s of UTF-8 in, one thread) for the BPE, WordPiece and
// Unigram tokenizers of tests/data/tokenizers on three texts: English prose (the repository's
// Markdown), C++ code (ctt::text's own sources) and Chinese (bench/data/tokenizer_zh.txt).
// Each text is cut into paragraphs of about 2 KB and encoded paragraph by paragraph, as a
// server would; the word caches are warm after the first pass, as they are in the reference.
//
// `CTT_TOKENIZER_BENCH_DUMP=<dir>` writes the three texts (one paragraph a line, JSON strings)
// so that the reference library can be timed on the very same input (docs/tokenizer.md).
#include <ctt/text/tokenizer.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::filesystem::path source_dir = CTT_SOURCE_DIR;

std::string read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/** Paragraphs of about `size` bytes, cut at line ends, repeated until `total` bytes. */
std::vector<std::string> paragraphs(const std::string& text, std::size_t size, std::size_t total) {
    std::vector<std::string> out;
    std::size_t bytes = 0;
    while (bytes < total) {
        std::string current;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line) && bytes < total) {
            current += line;
            current += '\n';
            if (current.size() >= size) {
                bytes += current.size();
                out.push_back(std::move(current));
                current.clear();
            }
        }
        if (!current.empty() && bytes < total) {
            bytes += current.size();
            out.push_back(std::move(current));
        }
    }
    return out;
}

const std::map<std::string, std::vector<std::string>>& texts() {
    static const auto t = [] {
        std::map<std::string, std::vector<std::string>> m;
        std::string prose = read(source_dir / "README.md");
        for (const auto& e : std::filesystem::directory_iterator(source_dir / "docs"))
            if (e.path().extension() == ".md")
                prose += read(e.path());
        std::string code;
        for (const char* f : {"src/text/components.cpp", "src/text/models.cpp",
                              "src/text/tokenizer.cpp", "src/text/unicode.cpp"})
            code += read(source_dir / f);
        const std::size_t total = 1 << 20;
        m["english"] = paragraphs(prose, 2048, total);
        m["code"] = paragraphs(code, 2048, total);
        m["chinese"] = paragraphs(read(source_dir / "bench/data/tokenizer_zh.txt"), 2048, total);
        if (const char* dump = std::getenv("CTT_TOKENIZER_BENCH_DUMP")) {
            for (const auto& [name, list] : m) {
                std::ofstream out(std::filesystem::path(dump) / (name + ".txt"), std::ios::binary);
                for (const auto& p : list)
                    out << p << '\x1e'; // record separator
            }
        }
        return m;
    }();
    return t;
}

const ctt::text::tokenizer& load(const std::string& name) {
    static std::map<std::string, ctt::text::tokenizer> cache;
    auto it = cache.find(name);
    if (it == cache.end()) {
        it = cache
                 .emplace(name,
                          ctt::text::tokenizer::from_file(source_dir / "tests/data/tokenizers/A" /
                                                          name / "tokenizer.json"))
                 .first;
    }
    return it->second;
}

void encode(benchmark::State& state, const std::string& tok_name, const std::string& text_name) {
    const auto& tok = load(tok_name);
    const auto& list = texts().at(text_name);
    std::size_t bytes = 0, tokens = 0;
    for (const auto& p : list)
        bytes += p.size();
    for (auto _ : state) {
        tokens = 0;
        for (const auto& p : list) {
            auto e = tok.encode(p, true);
            tokens += e.ids.size();
            benchmark::DoNotOptimize(e);
        }
    }
    state.counters["MB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-6,
                                                benchmark::Counter::kIsIterationInvariantRate);
    state.counters["tokens"] = static_cast<double>(tokens);
    state.counters["bytes"] = static_cast<double>(bytes);
}

struct registrar {
    registrar() {
        for (const char* tok : {"gpt2", "llama3", "qwen3", "llama2", "bert_base_uncased",
                                "trained_wordpiece", "trained_unigram_t5"})
            for (const char* text : {"english", "code", "chinese"})
                benchmark::RegisterBenchmark((std::string("encode/") + tok + "/" + text).c_str(),
                                             [tok = std::string(tok), text = std::string(text)](
                                                 benchmark::State& s) { encode(s, tok, text); })
                    ->Unit(benchmark::kMillisecond);
    }
} const registered;

} // namespace

BENCHMARK_MAIN();
