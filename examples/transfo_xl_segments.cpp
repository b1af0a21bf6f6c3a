// A long text through Transformer-XL segment by segment: each segment attends over the memory
// of the previous ones (the hidden states every layer received, `mem_len` of them), so the
// context reaches past the segment without recomputing it. The model is the tiny random
// checkpoint of tests/data/hf/transfo_xl (config.json compiled by ctt_add_hf_model,
// model.safetensors loaded at run time); the "text" is a token sequence with a repeated phrase.
//
// For each segment it prints the memory length the segment sees, the mean negative
// log-likelihood of its next tokens with that memory and without (a fresh memory: what a plain
// transformer over the segment alone computes), and the time. Then it checks the claim that
// makes segment-level recurrence exact: with a memory as long as the text, segment by segment
// gives the logits of one long pass.
//
//   transfo_xl_segments <checkpoint dir> [--tokens N] [--segment L]
#include "transfo_xl_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

using model_type = transfo_xl_model::model;
using ctt::index_t;

/// Mean of -log softmax(logits[t])[next[t]] over the rows that have a next token.
double mean_nll(const ctt::tensor<float, ctt::shape<ctt::dyn, model_type::vocab>>& logits,
                const std::vector<std::int32_t>& next) {
    double sum = 0;
    for (index_t t = 0; t < next.size(); ++t) {
        const float* row = logits[t].data();
        const float mx = *std::max_element(row, row + model_type::vocab);
        double z = 0;
        for (index_t v = 0; v < model_type::vocab; ++v) {
            z += std::exp(static_cast<double>(row[v] - mx));
        }
        sum += -(static_cast<double>(row[next[t]] - mx) - std::log(z));
    }
    return next.empty() ? 0.0 : sum / static_cast<double>(next.size());
}

/// The checkpoint's configuration with a memory longer than any text here.
struct long_memory : model_type::config {
    static constexpr index_t mem_len = index_t{1} << 20;
};

ctt::token_ids one_row(const std::vector<std::int32_t>& ids) {
    return ctt::token_ids(ids.data(), ctt::shape<ctt::dyn, ctt::dyn>(1, ids.size()));
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: transfo_xl_segments <checkpoint dir> [--tokens N] "
                             "[--segment L]\n");
        return 2;
    }
    index_t tokens = 80;
    index_t segment = model_type::config::mem_len;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const auto value = static_cast<index_t>(std::strtoul(argv[i + 1], nullptr, 10));
        if (arg == "--tokens") {
            tokens = value;
        } else if (arg == "--segment") {
            segment = std::max<index_t>(1, value);
        }
    }
    const std::filesystem::path dir = argv[1];
    const auto weights = ctt::safetensors_file::open(dir / "model.safetensors");
    auto model = std::make_unique<model_type>();
    ctt::load_parameters(*model, weights);

    // A "text": a 9-token phrase that comes back every 23 tokens among varying filler.
    std::vector<std::int32_t> text(tokens);
    for (index_t t = 0; t < tokens; ++t) {
        text[t] = t % 23 < 9 ? static_cast<std::int32_t>(10 + t % 23)
                             : static_cast<std::int32_t>(40 + (t * 37) % (model_type::vocab - 40));
    }
    std::printf("Transformer-XL: %zu layers, d_model %zu, %zu heads, mem_len %zu; %zu tokens in "
                "segments of %zu\n",
                static_cast<std::size_t>(model_type::layers),
                static_cast<std::size_t>(model_type::hidden),
                static_cast<std::size_t>(model_type::heads),
                static_cast<std::size_t>(model_type::config::mem_len),
                static_cast<std::size_t>(tokens), static_cast<std::size_t>(segment));
    std::printf("%8s %8s %14s %14s %10s\n", "segment", "memory", "nll (memory)", "nll (alone)",
                "ms");
    auto memory = model->new_memory(1);
    for (index_t start = 0; start < tokens; start += segment) {
        const index_t length = std::min(segment, tokens - start);
        const std::vector<std::int32_t> ids(text.begin() + start, text.begin() + start + length);
        const std::vector<std::int32_t> next(text.begin() + start + 1,
                                             text.begin() + std::min(tokens, start + length + 1));
        const index_t seen = memory.length();
        const auto t0 = std::chrono::steady_clock::now();
        const auto logits = model->forward(one_row(ids), memory);
        const auto t1 = std::chrono::steady_clock::now();
        auto fresh = model->new_memory(1);
        const auto alone = model->forward(one_row(ids), fresh);
        std::printf("%8zu %8zu %14.4f %14.4f %10.3f\n", static_cast<std::size_t>(start / segment),
                    static_cast<std::size_t>(seen), mean_nll(logits, next), mean_nll(alone, next),
                    std::chrono::duration<double, std::milli>(t1 - t0).count());
    }

    // Exactness: a memory that holds the whole text makes segments equal to one long pass.
    ctt::transfo_xl<long_memory> wide;
    ctt::load_parameters(wide, weights);
    auto whole_memory = wide.new_memory(1);
    const auto whole = wide.forward(one_row(text), whole_memory);
    auto segment_memory = wide.new_memory(1);
    double worst = 0;
    for (index_t start = 0; start < tokens; start += segment) {
        const index_t length = std::min(segment, tokens - start);
        const std::vector<std::int32_t> ids(text.begin() + start, text.begin() + start + length);
        const auto logits = wide.forward(one_row(ids), segment_memory);
        for (index_t t = 0; t < length; ++t) {
            for (index_t v = 0; v < model_type::vocab; ++v) {
                worst = std::max(worst,
                                 static_cast<double>(std::abs(logits(t, v) - whole(start + t, v))));
            }
        }
    }
    std::printf("with mem_len >= the text: segment by segment vs one pass, max |diff| = %.2e\n",
                worst);
    if (worst > 1e-3) {
        std::printf("MISMATCH\n");
        return 1;
    }
    std::printf("segments with memory reproduce the long pass\n");
    return 0;
}
