// Ranks sentences by their similarity to a query: sentence embeddings from any encoder of the
// registry (`embed`: CLS, pooler or mean pooling, L2-normalised; LaBSE is BERT with
// `--pooling pooler`), one padded batch for all sentences, then cosine similarity.
//
//   rank_sentences <checkpoint-dir> [--pooling cls|pooler|mean] "<query ids>" "<ids>" "<ids>"...
//
// Each sentence is a quoted list of token ids (the first is the query).
#include "similarity_model.hpp"

#include <ctt/io/parameter_loader.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::int32_t> parse_ids(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::int32_t> ids;
    long v = 0;
    while (in >> v) {
        ids.push_back(static_cast<std::int32_t>(v));
    }
    if (ids.empty()) {
        throw std::invalid_argument("an empty sentence: \"" + text + "\"");
    }
    return ids;
}

ctt::pooling parse_pooling(std::string_view name) {
    if (name == "cls") {
        return ctt::pooling::cls;
    }
    if (name == "pooler") {
        return ctt::pooling::pooler;
    }
    if (name == "mean") {
        return ctt::pooling::mean;
    }
    throw std::invalid_argument("--pooling is cls, pooler or mean, not " + std::string(name));
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2) {
            throw std::invalid_argument("usage: rank_sentences <checkpoint-dir> [--pooling "
                                        "cls|pooler|mean] \"<query ids>\" \"<ids>\"...");
        }
        ctt::pooling how = ctt::pooling::mean;
        std::vector<std::vector<std::int32_t>> sentences;
        for (int i = 2; i < argc; ++i) {
            if (std::string_view(argv[i]) == "--pooling" && i + 1 < argc) {
                how = parse_pooling(argv[++i]);
            } else {
                sentences.push_back(parse_ids(argv[i]));
            }
        }
        if (sentences.empty()) {
            sentences = {{5, 17, 42, 7, 99}, {5, 17, 42, 7}, {99, 7, 42, 17, 5}, {8, 9, 10}};
        }
        if (sentences.size() < 2) {
            throw std::invalid_argument("give a query and at least one sentence");
        }
        const auto file =
            ctt::safetensors_file::open(std::filesystem::path(argv[1]) / "model.safetensors");
        auto model = std::make_unique<similarity_model::model>();
        ctt::load_parameters(*model, file);

        // One right-padded batch with its attention mask.
        std::size_t length = 0;
        for (const auto& s : sentences) {
            length = std::max(length, s.size());
        }
        std::vector<std::int32_t> ids(sentences.size() * length, 0);
        std::vector<std::int32_t> mask(sentences.size() * length, 0);
        for (std::size_t b = 0; b < sentences.size(); ++b) {
            std::copy(sentences[b].begin(), sentences[b].end(), ids.begin() + b * length);
            std::fill_n(mask.begin() + b * length, sentences[b].size(), 1);
        }
        const ctt::token_ids ids_v(ids.data(),
                                   ctt::shape<ctt::dyn, ctt::dyn>(sentences.size(), length));
        const ctt::token_ids mask_v(mask.data(),
                                    ctt::shape<ctt::dyn, ctt::dyn>(sentences.size(), length));
        const auto embeddings = model->embed(ids_v, &mask_v, how, true);
        const auto similarity = ctt::cosine_similarity(embeddings.view(), embeddings.view());

        std::vector<std::size_t> order(sentences.size() - 1);
        std::iota(order.begin(), order.end(), std::size_t{1});
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return similarity(0, a) > similarity(0, b);
        });
        const auto print = [](const std::vector<std::int32_t>& s) {
            for (const auto id : s) {
                std::printf(" %d", id);
            }
        };
        std::printf("query:");
        print(sentences[0]);
        std::printf("\n");
        for (const auto b : order) {
            std::printf("  %+.6f ", similarity(0, b));
            print(sentences[b]);
            std::printf("\n");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
