// A sentence with entity vectors through ERNIE (THU): two mentions carry knowledge-graph
// embeddings (random stand-ins for TransE vectors of the checkpoint's `entity_dim`) at their
// first tokens (`ent_mask`), and the knowledge fusion layers mix them into the token states.
// The model is the tiny random checkpoint of tests/data/hf/ernie_thu (config.json compiled by
// ctt_add_hf_model, model.safetensors loaded at run time).
//
// It prints, per layer, how far the token states move when the entities are given (against the
// same sentence without them), at the mention tokens and elsewhere: text-only ("sim") layers
// before the first fusion layer do not move at all; fusion layers move the mentions first and
// attention spreads it; then the pooled output of both runs.
//
//   ernie_entities <checkpoint dir>
#include "ernie_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

namespace {

using model_type = ernie_model::model;
using ctt::dyn;
using ctt::index_t;
using ctt::shape;

const char* kind_name(ctt::ernie_layer k) {
    switch (k) {
    case ctt::ernie_layer::sim:
        return "sim";
    case ctt::ernie_layer::mix:
        return "mix";
    case ctt::ernie_layer::norm:
        return "norm";
    }
    return "?";
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: ernie_entities <checkpoint dir>\n");
        return 2;
    }
    const auto weights =
        ctt::safetensors_file::open(std::filesystem::path(argv[1]) / "model.safetensors");
    auto model = std::make_unique<model_type>();
    ctt::load_parameters(*model, weights);

    // "[CLS] bob dylan wrote blowin' in the wind in 1962 [SEP]" as ids; two mentions.
    const std::vector<std::int32_t> sentence{2, 41, 42, 87, 120, 121, 122, 123, 65, 200, 3};
    const index_t n = sentence.size();
    const std::vector<index_t> mentions{1, 4}; // first tokens of "bob dylan", "blowin' ..."
    constexpr index_t width = model_type::entity_dim;
    std::vector<std::int32_t> ent_mask(n, 0);
    std::vector<float> entities(n * width, 0.0f);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const index_t m : mentions) {
        ent_mask[m] = 1;
        for (index_t c = 0; c < width; ++c) {
            entities[m * width + c] = normal(rng);
        }
    }
    const std::vector<std::int32_t> no_entity(n, 0);
    const ctt::token_ids ids(sentence.data(), shape<dyn, dyn>(1, n));
    const ctt::token_ids mask_with(ent_mask.data(), shape<dyn, dyn>(1, n));
    const ctt::token_ids mask_without(no_entity.data(), shape<dyn, dyn>(1, n));
    const ctt::tensor_view<const float, shape<dyn, dyn, dyn>> ent(
        entities.data(), shape<dyn, dyn, dyn>(1, n, width));
    const auto with = model->forward(ids, {ent, &mask_with, nullptr, nullptr});
    const auto without = model->forward(ids, {ent, &mask_without, nullptr, nullptr});

    std::printf("ERNIE (THU): %zu layers, hidden %zu, entity_dim %zu; %zu tokens, entities at "
                "tokens 1 and 4\n",
                static_cast<std::size_t>(model_type::layers),
                static_cast<std::size_t>(model_type::hidden), static_cast<std::size_t>(width),
                static_cast<std::size_t>(n));
    std::printf("%6s %6s %18s %18s\n", "layer", "kind", "moved (mentions)", "moved (others)");
    bool fused = false;
    for (index_t l = 0; l < model_type::layers; ++l) {
        double at_mentions = 0, elsewhere = 0;
        for (index_t t = 0; t < n; ++t) {
            double d = 0;
            for (index_t c = 0; c < model_type::hidden; ++c) {
                const double e = with.encoded_layers[l](t, c) - without.encoded_layers[l](t, c);
                d += e * e;
            }
            d = std::sqrt(d);
            if (ent_mask[t] != 0) {
                at_mentions = std::max(at_mentions, d);
            } else {
                elsewhere = std::max(elsewhere, d);
            }
        }
        const auto kind = model_type::config::layer_types[l];
        std::printf("%6zu %6s %18.4f %18.4f\n", static_cast<std::size_t>(l), kind_name(kind),
                    at_mentions, elsewhere);
        fused = fused || kind != ctt::ernie_layer::sim;
        if (!fused && at_mentions != 0.0) {
            std::printf("a text-only layer before any fusion saw the entities\n");
            return 1;
        }
    }
    double pooled = 0;
    for (index_t c = 0; c < model_type::hidden; ++c) {
        pooled = std::max(pooled,
                          static_cast<double>(std::abs(with.pooled(0, c) - without.pooled(0, c))));
    }
    std::printf("pooled output: max |with - without| = %.4f\n", pooled);
    if (fused && !(pooled > 0)) {
        std::printf("the entities did not reach the pooled output\n");
        return 1;
    }
    std::printf("the entities entered through the fusion layers\n");
    return 0;
}
