// Models with random weights, and the checks that must hold whatever the weights: tests of the
// model families at sizes unlike the shipped reference cases.
#pragma once

#include <ctt/core/tensor.hpp>
#include <ctt/models/generation.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace ctt::test {

/// A parameter visitor that fills every weight with N(0, scale^2) and norm scales near 1.
struct random_filler {
    std::mt19937 rng{1234};
    float scale = 0.15f;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        std::normal_distribution<float> normal(0.f, scale);
        const bool is_norm = name.find("norm") != std::string::npos ||
                             name.find("LayerNorm") != std::string::npos ||
                             name.find("ln_") != std::string::npos;
        const bool is_weight = name.size() >= 6 && name.substr(name.size() - 6) == "weight";
        fill(v, [&] { return (is_norm && is_weight ? 1.f : 0.f) + normal(rng); });
    }
    void ignore(const std::string&) {}

private:
    template <class T, tensor_shape S, class F>
    static void fill(tensor_view<T, S> v, F&& f) {
        if constexpr (S::rank == 1) {
            for (index_t i = 0; i < v.size(); ++i) {
                v[i] = f();
            }
        } else {
            for (index_t i = 0; i < v.extent(0); ++i) {
                fill(v[i], f);
            }
        }
    }
};

/// A model of type `Model` with random weights (and its load-time transforms applied).
template <class Model>
std::unique_ptr<Model> random_model() {
    auto m = std::make_unique<Model>();
    random_filler filler;
    m->visit_parameters(filler, "");
    if constexpr (requires { m->finish_loading(); }) {
        m->finish_loading();
    }
    return m;
}

inline double max_diff(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
    }
    return d;
}

inline std::vector<std::int32_t> random_tokens(index_t n, index_t vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(vocab) - 1);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) {
        x = pick(rng);
    }
    return t;
}

/// Whole-sequence logits equal those of a prefill followed by one-token steps.
template <class Model>
void check_incremental_decoding(const Model& model, index_t length, index_t prefill) {
    constexpr index_t V = Model::vocab;
    const auto tokens = random_tokens(length, V, 7);
    auto whole = model.new_session(length);
    tensor<float, shape<dyn, V>> all(length);
    model.step(whole, tokens, all.view());

    auto steps = model.new_session(length);
    tensor<float, shape<dyn, V>> part(length);
    model.step(steps, std::span(tokens).first(prefill), part.view().rows(0, prefill));
    for (index_t t = prefill; t < length; ++t) {
        model.step(steps, std::span(tokens).subspan(t, 1), part.view().rows(t, 1));
    }
    CHECK(steps.length() == length);
    CHECK(max_diff({all.data(), all.size()}, {part.data(), part.size()}) < 2e-4);
}

/// Greedy equals temperature 0, seeded sampling repeats, and every token is in the vocabulary.
template <class Model>
void check_generation(const Model& model) {
    const auto prompt = random_tokens(5, Model::vocab, 3);
    const auto greedy = generate(model, prompt, 6);
    CHECK(greedy.size() == 11);
    CHECK(generate(model, prompt, 6, {.temperature = 0.f}) == greedy);
    const sampling_options sampled{.temperature = 1.3f, .top_k = 20, .top_p = 0.9f, .seed = 99};
    CHECK(generate(model, prompt, 6, sampled) == generate(model, prompt, 6, sampled));
    for (auto t : generate(model, prompt, 6, sampled)) {
        CHECK(t >= 0);
        CHECK(t < static_cast<std::int32_t>(Model::vocab));
    }
}

} // namespace ctt::test
