// DALL-E's transformer (no reference checkpoint exists) against its spec: a composition written
// here from the definition, with `reference_attention` under each layer's `dalle_mask` (row,
// column and convolutional layers cycling over four layers), fed the same random weights by name;
// the KV cache against the whole sequence; generation through the cache against teacher forcing;
// the logits mask; and bad tokens.
#include <ctt/attention/reference_attention.hpp>
#include <ctt/models/dalle.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

struct tiny_dalle {
    static constexpr index_t text_vocab_size = 23;
    static constexpr index_t image_vocab_size = 17;
    static constexpr index_t text_len = 5;
    static constexpr index_t image_size = 4;
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 3;
    static constexpr index_t head_dim = 8;
    static constexpr index_t intermediate_size = 32;
    static constexpr index_t num_layers = 4;
    static constexpr dalle_pattern attn_types[] = {dalle_pattern::row, dalle_pattern::column,
                                                   dalle_pattern::convolutional};
    static constexpr float norm_eps = 1e-5f;
};

using model_type = dalle<tiny_dalle>;
constexpr index_t H = tiny_dalle::hidden_size;
constexpr index_t V = model_type::vocab;
constexpr index_t L = model_type::sequence_len;

struct recording_filler {
    test::random_filler random;
    std::map<std::string, std::vector<float>> t;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        random.parameter(name, v);
        auto& out = t[name];
        out.assign(v.data(), v.data() + v.size()); // every view here is contiguous
    }
    void ignore(const std::string&) {}
};

using matrix = std::vector<std::vector<double>>;

matrix norm(const matrix& x, const std::vector<float>& g, const std::vector<float>& b) {
    matrix y = x;
    for (auto& r : y) {
        double mean = 0, var = 0;
        for (double e : r) {
            mean += e;
        }
        mean /= static_cast<double>(r.size());
        for (double e : r) {
            var += (e - mean) * (e - mean);
        }
        var /= static_cast<double>(r.size());
        for (std::size_t c = 0; c < r.size(); ++c) {
            r[c] = (r[c] - mean) / std::sqrt(var + 1e-5) * g[c] + b[c];
        }
    }
    return y;
}

matrix linear(const matrix& x, const std::vector<float>& w, const std::vector<float>* b,
              index_t out) {
    const index_t in = x.front().size();
    matrix y(x.size(), std::vector<double>(out));
    for (std::size_t r = 0; r < x.size(); ++r) {
        for (index_t o = 0; o < out; ++o) {
            double s = b != nullptr ? (*b)[o] : 0.0;
            for (index_t c = 0; c < in; ++c) {
                s += x[r][c] * w[o * in + c];
            }
            y[r][o] = s;
        }
    }
    return y;
}

/// The logits of the whole sequence `tokens` (text ids, then image ids), from the definition.
matrix reference_logits(const std::map<std::string, std::vector<float>>& t,
                        const std::vector<std::int32_t>& tokens) {
    const index_t n = tokens.size();
    const auto& table = t.at("token_emb.weight");
    matrix x(n, std::vector<double>(H));
    for (index_t p = 0; p < n; ++p) {
        const bool text = p < tiny_dalle::text_len;
        const index_t id = tokens[p] + (text ? 0 : tiny_dalle::text_vocab_size);
        for (index_t c = 0; c < H; ++c) {
            double e = table[id * H + c];
            if (text) {
                e += t.at("text_pos_emb.weight")[p * H + c];
            } else {
                const index_t i = p - tiny_dalle::text_len;
                e += t.at("image_pos_emb.weights_0")[(i / tiny_dalle::image_size) * H + c];
                e += t.at("image_pos_emb.weights_1")[(i % tiny_dalle::image_size) * H + c];
            }
            x[p][c] = e;
        }
    }
    constexpr index_t D = tiny_dalle::head_dim;
    constexpr index_t heads = tiny_dalle::num_heads;
    for (index_t l = 0; l < tiny_dalle::num_layers; ++l) {
        const std::string p = "transformer.layers." + std::to_string(l) + ".";
        const dalle_mask mask{tiny_dalle::attn_types[l % 3], tiny_dalle::text_len,
                              tiny_dalle::image_size, 3, 1};
        const matrix h = norm(x, t.at(p + "attn_norm.weight"), t.at(p + "attn_norm.bias"));
        const matrix qkv = linear(h, t.at(p + "attn.to_qkv.weight"), nullptr, 3 * heads * D);
        matrix context(n, std::vector<double>(heads * D));
        for (index_t hd = 0; hd < heads; ++hd) {
            tensor<float, shape<dyn, D>> q(n), k(n), v(n), o(n);
            for (index_t r = 0; r < n; ++r) {
                for (index_t c = 0; c < D; ++c) {
                    q(r, c) = static_cast<float>(qkv[r][hd * D + c]);
                    k(r, c) = static_cast<float>(qkv[r][heads * D + hd * D + c]);
                    v(r, c) = static_cast<float>(qkv[r][2 * heads * D + hd * D + c]);
                }
            }
            reference_attention(tensor_view<const float, shape<dyn, D>>(q.view()),
                                tensor_view<const float, shape<dyn, D>>(k.view()),
                                tensor_view<const float, shape<dyn, D>>(v.view()), o.view(), mask);
            for (index_t r = 0; r < n; ++r) {
                for (index_t c = 0; c < D; ++c) {
                    context[r][hd * D + c] = o(r, c);
                }
            }
        }
        const matrix a =
            linear(context, t.at(p + "attn.to_out.weight"), &t.at(p + "attn.to_out.bias"), H);
        for (index_t r = 0; r < n; ++r) {
            for (index_t c = 0; c < H; ++c) {
                x[r][c] += a[r][c];
            }
        }
        const matrix f = norm(x, t.at(p + "ff_norm.weight"), t.at(p + "ff_norm.bias"));
        constexpr index_t F = tiny_dalle::intermediate_size;
        matrix gate = linear(f, t.at(p + "ff.gate.weight"), &t.at(p + "ff.gate.bias"), F);
        const matrix up = linear(f, t.at(p + "ff.up.weight"), &t.at(p + "ff.up.bias"), F);
        for (index_t r = 0; r < n; ++r) {
            for (index_t c = 0; c < F; ++c) {
                const double g = gate[r][c];
                gate[r][c] = 0.5 * g * (1.0 + std::erf(g / std::sqrt(2.0))) * up[r][c];
            }
        }
        const matrix d = linear(gate, t.at(p + "ff.down.weight"), &t.at(p + "ff.down.bias"), H);
        for (index_t r = 0; r < n; ++r) {
            for (index_t c = 0; c < H; ++c) {
                x[r][c] += d[r][c];
            }
        }
    }
    return linear(norm(x, t.at("norm.weight"), t.at("norm.bias")), t.at("to_logits.weight"),
                  &t.at("to_logits.bias"), V);
}

std::vector<std::int32_t> sequence_tokens(unsigned seed) {
    auto text = test::random_tokens(tiny_dalle::text_len, tiny_dalle::text_vocab_size, seed);
    const auto image =
        test::random_tokens(model_type::image_len, tiny_dalle::image_vocab_size, seed + 1);
    text.insert(text.end(), image.begin(), image.end());
    return text;
}

} // namespace

TEST_CASE("dalle: row, column and convolutional layers against reference attention with the "
          "masks, and the logits mask") {
    auto model = std::make_unique<model_type>();
    recording_filler filler;
    model->visit_parameters(filler, "");
    model->finish_loading();
    const auto tokens = sequence_tokens(3);
    auto session = model->new_session();
    tensor<float, shape<dyn, V>> logits(L);
    model->step(session, tokens, logits.view());
    const matrix expected = reference_logits(filler.t, tokens);
    double worst = 0;
    for (index_t p = 0; p < L; ++p) {
        const bool next_is_text = p + 1 < tiny_dalle::text_len;
        for (index_t o = 0; o < V; ++o) {
            const bool text_token = o < tiny_dalle::text_vocab_size;
            if (text_token != next_is_text) {
                CHECK(std::isinf(logits(p, o)));
                CHECK(logits(p, o) < 0);
            } else {
                worst = std::max(worst, std::abs(expected[p][o] - logits(p, o)));
            }
        }
    }
    CHECK(worst < 2e-4);
    // The masks matter: the same weights under dense causal attention give other logits.
    CHECK(model_type::decoder_type::spec::layer_mask<model_type::decoder_type::config>(1).pattern ==
          dalle_pattern::column);
    CHECK(model_type::decoder_type::spec::layer_mask<model_type::decoder_type::config>(3).pattern ==
          dalle_pattern::row);
}

TEST_CASE("dalle: the KV cache equals the whole sequence; generation agrees with teacher forcing") {
    const auto model = test::random_model<model_type>();
    const auto tokens = sequence_tokens(5);
    auto whole = model->new_session();
    tensor<float, shape<dyn, V>> all(L);
    model->step(whole, tokens, all.view());
    auto steps = model->new_session();
    tensor<float, shape<dyn, V>> part(L);
    model->step(steps, std::span(tokens).first(tiny_dalle::text_len),
                part.view().rows(0, tiny_dalle::text_len));
    for (index_t p = tiny_dalle::text_len; p < L; ++p) {
        model->step(steps, std::span(tokens).subspan(p, 1), part.view().rows(p, 1));
    }
    double worst = 0;
    for (index_t i = 0; i < all.size(); ++i) {
        if (!std::isinf(all.data()[i])) {
            worst = std::max(worst, static_cast<double>(std::abs(all.data()[i] - part.data()[i])));
        }
    }
    CHECK(worst < 2e-4);

    const std::span<const std::int32_t> text(tokens.data(), tiny_dalle::text_len);
    const auto image = model->generate_image(text);
    REQUIRE(image.size() == model_type::image_len);
    std::vector<std::int32_t> forced(text.begin(), text.end());
    forced.insert(forced.end(), image.begin(), image.end());
    auto check = model->new_session();
    tensor<float, shape<dyn, V>> teacher(L);
    model->step(check, forced, teacher.view());
    for (index_t i = 0; i < model_type::image_len; ++i) {
        const auto row = teacher[tiny_dalle::text_len - 1 + i];
        CHECK(static_cast<std::int32_t>(argmax({row.data(), V})) ==
              image[i] + static_cast<std::int32_t>(tiny_dalle::text_vocab_size));
    }
    const sampling_options sampled{.temperature = 1.f, .top_k = 5, .seed = 11};
    CHECK(model->generate_image(text, sampled) == model->generate_image(text, sampled));
}

TEST_CASE("dalle refuses ids outside each part's vocabulary and sequences past the grid") {
    const auto model = test::random_model<model_type>();
    auto session = model->new_session();
    tensor<float, shape<dyn, V>> logits(1);
    const std::int32_t image_id = 20; // a valid text id, but not an image id (17)
    std::vector<std::int32_t> text(tiny_dalle::text_len, 1);
    tensor<float, shape<dyn, V>> text_logits(tiny_dalle::text_len);
    model->step(session, text, text_logits.view());
    CHECK_THROWS_WITH_AS(model->step(session, std::span(&image_id, 1), logits.view()),
                         doctest::Contains("is not an image id"), value_error);
    auto fresh = model->new_session();
    const std::int32_t big = tiny_dalle::text_vocab_size;
    CHECK_THROWS_WITH_AS(model->step(fresh, std::span(&big, 1), logits.view()),
                         doctest::Contains("is not a text id"), value_error);
    const auto tokens = sequence_tokens(7);
    auto full = model->new_session();
    tensor<float, shape<dyn, V>> all(L);
    model->step(full, tokens, all.view());
    const std::int32_t one = 1;
    CHECK_THROWS_WITH_AS(model->step(full, std::span(&one, 1), logits.view()),
                         doctest::Contains("text_len + image_size^2"), shape_error);
}
