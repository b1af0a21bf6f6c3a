#pragma once
/**
 * @file
 * @brief Token generation for every decoder of ctt: greedy decoding and sampling (temperature,
 *        top-k, top-p), seeded so a run can be repeated, through the model's KV cache.
 *
 * A decoder model provides
 * @code
 * session_type new_session(index_t capacity) const;          // empty KV caches
 * void step(session_type&, std::span<const std::int32_t> tokens,
 *           tensor_view<float, shape<dyn, vocab>> logits) const;  // appends tokens
 * @endcode
 * (T5 builds its session from the encoder's output instead.)
 */

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/models/model_io.hpp"

namespace ctt {

/**
 * @brief How the next token is chosen. `temperature == 0` is greedy (argmax); otherwise the
 *        logits are divided by the temperature, restricted to the `top_k` most likely tokens
 *        (0: all) and to the smallest set whose probability reaches `top_p` (Holtzman et al.,
 *        arXiv:1904.09751), then sampled with a generator seeded by `seed`.
 */
struct sampling_options {
    float temperature = 0.f;
    index_t top_k = 0;
    float top_p = 1.f;
    std::uint64_t seed = 0;
};

/// Chooses the next token from one row of logits.
[[nodiscard]] inline std::int32_t
choose_token(std::span<const float> logits, const sampling_options& options, std::mt19937_64& rng) {
    if (options.temperature <= 0.f) {
        return static_cast<std::int32_t>(argmax(logits));
    }
    // A NaN logit (from NaN weights or inputs) ranks as -inf: the ordering stays a strict weak
    // order, and it gets probability 0.
    const auto rank = [&](index_t i) {
        const float v = logits[i];
        return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
    };
    std::vector<index_t> order(logits.size());
    std::iota(order.begin(), order.end(), index_t{0});
    // Most likely first; ties keep the lower id first so a seed always gives the same tokens.
    std::stable_sort(order.begin(), order.end(),
                     [&](index_t a, index_t b) { return rank(a) > rank(b); });
    const double top = rank(order[0]);
    if (!std::isfinite(top)) {
        return static_cast<std::int32_t>(order[0]); // +inf wins; all -inf or NaN: no preference
    }
    index_t keep = order.size();
    if (options.top_k > 0) {
        keep = std::min(keep, options.top_k);
    }
    std::vector<double> probs(keep);
    double total = 0;
    for (index_t i = 0; i < keep; ++i) {
        probs[i] = std::exp((rank(order[i]) - top) / options.temperature);
        total += probs[i];
    }
    if (options.top_p < 1.f) {
        double cumulative = 0;
        index_t i = 0;
        while (i < keep) {
            cumulative += probs[i] / total;
            ++i;
            if (cumulative >= options.top_p) {
                break;
            }
        }
        keep = i;
        probs.resize(keep);
    }
    std::discrete_distribution<index_t> pick(probs.begin(), probs.end());
    return static_cast<std::int32_t>(order[pick(rng)]);
}

/**
 * @brief Runs `prompt` through `model` and appends up to `max_new_tokens` chosen tokens,
 *        stopping after `eos` when given. Returns the prompt followed by the new tokens.
 *
 * The prompt is fed in one step (prefill); each new token is one more step of one token.
 */
template <class Model, class Session>
std::vector<std::int32_t>
generate_with(const Model& model, Session& session, std::span<const std::int32_t> prompt,
              index_t max_new_tokens, const sampling_options& options = {},
              std::optional<std::int32_t> eos = std::nullopt) {
    constexpr index_t vocab = Model::vocab;
    if (prompt.empty()) {
        throw value_error("generate: the prompt is empty");
    }
    std::vector<std::int32_t> tokens(prompt.begin(), prompt.end());
    std::mt19937_64 rng(options.seed);
    // Only the last position's logits choose the next token.
    tensor<float, shape<dyn, vocab>> logits(1);
    model.step(session, prompt, logits.view());
    for (index_t t = 0; t < max_new_tokens; ++t) {
        const auto last = logits[logits.rows() - 1];
        const std::int32_t next = choose_token({last.data(), vocab}, options, rng);
        tokens.push_back(next);
        if ((eos && next == *eos) || t + 1 == max_new_tokens) {
            break;
        }
        model.step(session, std::span<const std::int32_t>(&tokens.back(), 1), logits.view());
    }
    return tokens;
}

/// `generate_with` on a new session sized for the prompt and the new tokens.
template <class Model>
std::vector<std::int32_t> generate(const Model& model, std::span<const std::int32_t> prompt,
                                   index_t max_new_tokens, const sampling_options& options = {},
                                   std::optional<std::int32_t> eos = std::nullopt) {
    auto session = model.new_session(prompt.size() + max_new_tokens);
    return generate_with(model, session, prompt, max_new_tokens, options, eos);
}

} // namespace ctt
