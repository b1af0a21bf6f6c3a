// encoder_decoder at sizes unlike the shipped reference cases (tests/conformance holds BART, T5
// and mT5 to HF's numbers): BART with encoder and decoder of different heads, widths and depths,
// scaled embeddings and an untied head, against a plain scalar composition of BART written here
// from its definition and fed the same random weights by name; the decoder cache against whole
// sequences; padding against sequences alone; the sub-layer lists and load-time tables.
#include <ctt/models/bart.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/t5.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

// 3 encoder heads of 12, 4 decoder heads of 9, three encoder layers and one decoder layer.
struct bart_uneven {
    static constexpr index_t vocab_size = 53;
    static constexpr index_t hidden_size = 36;
    static constexpr index_t num_heads = 3;
    static constexpr index_t decoder_heads = 4;
    static constexpr index_t intermediate_size = 50;
    static constexpr index_t decoder_intermediate_size = 28;
    static constexpr index_t encoder_layers = 3;
    static constexpr index_t decoder_layers = 1;
    static constexpr index_t max_positions = 20;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float norm_eps = 1e-5f;
    static constexpr int decoder_start_token_id = 2;
    static constexpr bool scale_embeddings = true;
    static constexpr bool tie_word_embeddings = false;
};

// Tied, unscaled, ReLU, two layers each: the shipped case's settings at other sizes.
struct bart_tied {
    static constexpr index_t vocab_size = 40;
    static constexpr index_t hidden_size = 20;
    static constexpr index_t num_heads = 5;
    static constexpr index_t intermediate_size = 24;
    static constexpr index_t encoder_layers = 2;
    static constexpr index_t decoder_layers = 2;
    static constexpr index_t max_positions = 16;
    static constexpr activation hidden_act = activation::relu;
    static constexpr float norm_eps = 1e-5f;
    static constexpr int decoder_start_token_id = 2;
};

// A T5 under HF's names: 2 heads of 6, one layer each.
struct t5_small {
    static constexpr index_t vocab_size = 30;
    static constexpr index_t d_model = 16;
    static constexpr index_t d_kv = 6;
    static constexpr index_t num_heads = 2;
    static constexpr index_t d_ff = 20;
    static constexpr index_t num_layers = 1;
    static constexpr index_t num_decoder_layers = 1;
    static constexpr index_t num_buckets = 8;
    static constexpr index_t max_distance = 16;
    static constexpr float layer_norm_eps = 1e-6f;
    static constexpr activation dense_act = activation::relu;
    static constexpr bool gated = false;
    static constexpr bool tie_word_embeddings = true;
    static constexpr int decoder_start_token_id = 0;
};

static_assert(bart<bart_uneven>::decoder_head_dim == 9);
static_assert(bart<bart_uneven>::head_dim == 12);
static_assert(std::tuple_size_v<bart<bart_uneven>::decoder_layer> == 3);
static_assert(std::tuple_size_v<bart<bart_uneven>::encoder_layer> == 2);
static_assert(std::tuple_element_t<1, bart<bart_uneven>::decoder_layer>::kind ==
              sublayer::cross_attention);

/// A random filler that also keeps every tensor by name, for the reference below.
struct recording_filler {
    test::random_filler random;
    std::map<std::string, std::vector<float>> tensors;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        random.parameter(name, v);
        auto& out = tensors[name];
        out.clear();
        if constexpr (S::rank == 1) {
            for (index_t i = 0; i < v.size(); ++i) {
                out.push_back(v[i]);
            }
        } else {
            for (index_t r = 0; r < v.rows(); ++r) {
                for (index_t c = 0; c < v.cols(); ++c) {
                    out.push_back(v(r, c));
                }
            }
        }
    }
    void ignore(const std::string&) {}
};

/// Rows of floats.
struct matrix {
    index_t rows = 0, cols = 0;
    std::vector<double> v;
    matrix(index_t r, index_t c)
        : rows(r)
        , cols(c)
        , v(r * c, 0.0) {}
    double& operator()(index_t r, index_t c) { return v[r * cols + c]; }
    double operator()(index_t r, index_t c) const { return v[r * cols + c]; }
};

/// BART written out from its definition (HF `modeling_bart`), in double, over one sequence.
class reference_bart {
public:
    reference_bart(const std::map<std::string, std::vector<float>>& t, index_t hidden,
                   index_t heads, index_t decoder_heads, bool scale, bool tied)
        : t_(t)
        , hidden_(hidden)
        , heads_(heads)
        , decoder_heads_(decoder_heads)
        , scale_(scale)
        , tied_(tied) {}

    [[nodiscard]] matrix encode(const std::vector<std::int32_t>& ids, const std::vector<int>& mask,
                                index_t layers) const {
        matrix x = embed("model.encoder.", ids, 0);
        for (index_t l = 0; l < layers; ++l) {
            const std::string p = "model.encoder.layers." + std::to_string(l) + ".";
            x = norm(add(x, attend(p + "self_attn.", x, x, mask, false, heads_)),
                     p + "self_attn_layer_norm.");
            x = norm(add(x, ffn(p, x)), p + "final_layer_norm.");
        }
        return x;
    }

    [[nodiscard]] matrix logits(const std::vector<std::int32_t>& ids, const matrix& memory,
                                const std::vector<int>& mask, index_t layers) const {
        matrix x = embed("model.decoder.", ids, 0);
        for (index_t l = 0; l < layers; ++l) {
            const std::string p = "model.decoder.layers." + std::to_string(l) + ".";
            const std::vector<int> all(ids.size(), 1);
            x = norm(add(x, attend(p + "self_attn.", x, x, all, true, decoder_heads_)),
                     p + "self_attn_layer_norm.");
            x = norm(add(x, attend(p + "encoder_attn.", x, memory, mask, false, decoder_heads_)),
                     p + "encoder_attn_layer_norm.");
            x = norm(add(x, ffn(p, x)), p + "final_layer_norm.");
        }
        const auto& w = t_.at(tied_ ? "model.shared.weight" : "lm_head.weight");
        const auto& bias = t_.at("final_logits_bias");
        const index_t vocab = bias.size();
        matrix out(x.rows, vocab);
        for (index_t r = 0; r < x.rows; ++r) {
            for (index_t o = 0; o < vocab; ++o) {
                double s = bias[o];
                for (index_t c = 0; c < hidden_; ++c) {
                    s += x(r, c) * w[o * hidden_ + c];
                }
                out(r, o) = s;
            }
        }
        return out;
    }

private:
    [[nodiscard]] matrix embed(const std::string& stack, const std::vector<std::int32_t>& ids,
                               index_t past) const {
        const auto& e = t_.at("model.shared.weight");
        const auto& p = t_.at(stack + "embed_positions.weight");
        const double s = scale_ ? std::sqrt(static_cast<double>(hidden_)) : 1.0;
        matrix x(ids.size(), hidden_);
        for (index_t r = 0; r < x.rows; ++r) {
            for (index_t c = 0; c < hidden_; ++c) {
                // BART's positions are numbered from 2.
                x(r, c) = e[ids[r] * hidden_ + c] * s + p[(past + r + 2) * hidden_ + c];
            }
        }
        return norm(x, stack + "layernorm_embedding.");
    }

    [[nodiscard]] matrix linear(const matrix& x, const std::string& name) const {
        const auto& w = t_.at(name + "weight");
        const auto& b = t_.at(name + "bias");
        const index_t out_width = b.size();
        matrix y(x.rows, out_width);
        for (index_t r = 0; r < x.rows; ++r) {
            for (index_t o = 0; o < out_width; ++o) {
                double s = b[o];
                for (index_t c = 0; c < x.cols; ++c) {
                    s += x(r, c) * w[o * x.cols + c];
                }
                y(r, o) = s;
            }
        }
        return y;
    }

    [[nodiscard]] matrix norm(const matrix& x, const std::string& name) const {
        const auto& g = t_.at(name + "weight");
        const auto& b = t_.at(name + "bias");
        matrix y(x.rows, x.cols);
        for (index_t r = 0; r < x.rows; ++r) {
            double mean = 0, var = 0;
            for (index_t c = 0; c < x.cols; ++c) {
                mean += x(r, c);
            }
            mean /= static_cast<double>(x.cols);
            for (index_t c = 0; c < x.cols; ++c) {
                var += (x(r, c) - mean) * (x(r, c) - mean);
            }
            var /= static_cast<double>(x.cols);
            for (index_t c = 0; c < x.cols; ++c) {
                y(r, c) = (x(r, c) - mean) / std::sqrt(var + 1e-5) * g[c] + b[c];
            }
        }
        return y;
    }

    [[nodiscard]] static matrix add(matrix a, const matrix& b) {
        for (index_t i = 0; i < a.v.size(); ++i) {
            a.v[i] += b.v[i];
        }
        return a;
    }

    [[nodiscard]] matrix attend(const std::string& p, const matrix& x, const matrix& memory,
                                const std::vector<int>& key_mask, bool causal,
                                index_t heads) const {
        const matrix q = linear(x, p + "q_proj.");
        const matrix k = linear(memory, p + "k_proj.");
        const matrix v = linear(memory, p + "v_proj.");
        const index_t d = hidden_ / heads;
        matrix context(x.rows, hidden_);
        for (index_t h = 0; h < heads; ++h) {
            for (index_t i = 0; i < x.rows; ++i) {
                std::vector<double> score(memory.rows, -INFINITY);
                double top = -INFINITY;
                for (index_t j = 0; j < memory.rows; ++j) {
                    if (key_mask[j] == 0 || (causal && j > i)) {
                        continue;
                    }
                    double s = 0;
                    for (index_t c = 0; c < d; ++c) {
                        s += q(i, h * d + c) * k(j, h * d + c);
                    }
                    score[j] = s / std::sqrt(static_cast<double>(d));
                    top = std::max(top, score[j]);
                }
                double total = 0;
                for (auto& s : score) {
                    s = std::exp(s - top);
                    total += s;
                }
                for (index_t j = 0; j < memory.rows; ++j) {
                    for (index_t c = 0; c < d; ++c) {
                        context(i, h * d + c) += score[j] / total * v(j, h * d + c);
                    }
                }
            }
        }
        return linear(context, p + "out_proj.");
    }

    [[nodiscard]] matrix ffn(const std::string& p, const matrix& x) const {
        matrix h = linear(x, p + "fc1.");
        for (auto& e : h.v) {
            e = act_(e);
        }
        return linear(h, p + "fc2.");
    }

    const std::map<std::string, std::vector<float>>& t_;
    index_t hidden_, heads_, decoder_heads_;
    bool scale_, tied_;

public:
    double (*act_)(double) = nullptr;
};

double gelu_erf(double x) {
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}
double relu(double x) {
    return x > 0 ? x : 0;
}

template <class Config>
void check_against_reference(double (*act)(double)) {
    using model_type = bart<Config>;
    constexpr index_t H = model_type::hidden;
    constexpr index_t V = model_type::vocab;
    auto model = std::make_unique<model_type>();
    recording_filler filler;
    model->visit_parameters(filler, "");
    model->finish_loading();
    reference_bart ref(filler.tensors, H, model_type::heads, model_type::decoder_heads,
                       detail::seq2seq_traits<Config, families::bart_spec>::scale_embeddings,
                       detail::seq2seq_traits<Config, families::bart_spec>::tie_word_embeddings);
    ref.act_ = act;

    // Two sequences of 11, the second padded after 7 tokens.
    const index_t length = 11;
    const index_t real = 7;
    auto ids = test::random_tokens(2 * length, V, 21);
    std::vector<std::int32_t> mask(2 * length, 1);
    for (index_t t = real; t < length; ++t) {
        mask[length + t] = 0;
    }
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(2, length));
    const auto enc = model->encode(ids_v, &mask_v, true);
    CHECK(enc.hidden_states.size() == model_type::encoder_layers + 1);
    const auto dec = test::random_tokens(6, V, 22);
    for (index_t b = 0; b < 2; ++b) {
        CAPTURE(b);
        const std::vector<std::int32_t> seq(ids.begin() + b * length,
                                            ids.begin() + (b + 1) * length);
        const std::vector<int> seq_mask(mask.begin() + b * length, mask.begin() + (b + 1) * length);
        const matrix memory = ref.encode(seq, seq_mask, model_type::encoder_layers);
        double worst = 0;
        for (index_t t = 0; t < length; ++t) {
            for (index_t c = 0; c < H && seq_mask[t] != 0; ++c) {
                worst = std::max(worst, std::abs(memory(t, c) - enc.states(b * length + t, c)));
            }
        }
        CHECK(worst < 1e-4);

        auto session = model->new_session(enc, b, dec.size());
        tensor<float, shape<dyn, V>> logits(dec.size());
        std::vector<tensor<float, shape<dyn, H>>> hidden;
        model->step(session, dec, logits.view(), &hidden);
        CHECK(hidden.size() == model_type::decoder_layers + 1);
        const matrix expected = ref.logits(dec, memory, seq_mask, model_type::decoder_layers);
        worst = 0;
        for (index_t t = 0; t < dec.size(); ++t) {
            for (index_t o = 0; o < V; ++o) {
                worst = std::max(worst, std::abs(expected(t, o) - logits(t, o)));
            }
        }
        CHECK(worst < 2e-4);
    }
}

} // namespace

TEST_CASE("bart with uneven stacks, scaled embeddings and an untied head: the definition") {
    check_against_reference<bart_uneven>(gelu_erf);
}

TEST_CASE("bart tied, five heads, ReLU: the definition") {
    check_against_reference<bart_tied>(relu);
}

TEST_CASE("bart: the decoder cache equals whole sequences, padding equals the sequence alone") {
    using model_type = bart<bart_uneven>;
    constexpr index_t V = model_type::vocab;
    const auto model = test::random_model<model_type>();
    const index_t length = 9;
    const index_t real = 5;
    auto ids = test::random_tokens(2 * length, V, 31);
    std::vector<std::int32_t> mask(2 * length, 1);
    for (index_t t = 0; t < length; ++t) {
        ids[length + t] = t < real ? ids[t] : 1;
        mask[length + t] = t < real ? 1 : 0;
    }
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(2, length));
    const auto enc = model->encode(ids_v, &mask_v);
    const auto alone = model->encode(token_ids(ids.data(), shape<dyn, dyn>(1, real)));

    const auto dec = test::random_tokens(14, V, 32);
    auto whole = model->new_session(enc, 1, dec.size());
    tensor<float, shape<dyn, V>> all(dec.size());
    model->step(whole, dec, all.view());
    auto steps = model->new_session(alone, 0, dec.size());
    tensor<float, shape<dyn, V>> part(dec.size());
    model->step(steps, std::span(dec).first(3), part.view().rows(0, 3));
    for (index_t t = 3; t < dec.size(); ++t) {
        model->step(steps, std::span(dec).subspan(t, 1), part.view().rows(t, 1));
    }
    CHECK(test::max_diff({all.data(), all.size()}, {part.data(), part.size()}) < 2e-4);

    // Greedy generation through the caches repeats, and stays in the vocabulary.
    const std::int32_t start = bart_uneven::decoder_start_token_id;
    auto g1 = model->new_session(enc, 0, 8);
    auto g2 = model->new_session(enc, 0, 8);
    const auto a = generate_with(*model, g1, std::span(&start, 1), 7);
    CHECK(a.size() == 8);
    CHECK(a == generate_with(*model, g2, std::span(&start, 1), 7));
}

TEST_CASE("bart: lengths past the position table and bad batch rows are refused") {
    using model_type = bart<bart_tied>;
    const auto model = test::random_model<model_type>();
    const auto ids = test::random_tokens(17, model_type::vocab, 41);
    CHECK_THROWS_WITH_AS((void)model->encode(token_ids(ids.data(), shape<dyn, dyn>(1, 17))),
                         doctest::Contains("max_position_embeddings"), shape_error);
    const auto enc = model->encode(token_ids(ids.data(), shape<dyn, dyn>(1, 8)));
    CHECK_THROWS_WITH_AS((void)model->new_session(enc, 0, 17),
                         doctest::Contains("max_position_embeddings"), shape_error);
    CHECK_THROWS_AS((void)model->new_session(enc, 1, 4), shape_error);
    auto session = model->new_session(enc, 0, 16);
    tensor<float, shape<dyn, model_type::vocab>> logits(1);
    const std::int32_t bad = model_type::vocab;
    CHECK_THROWS((model->step(session, std::span(&bad, 1), logits.view())));
}

TEST_CASE("t5 relative-bias tables are built at load: a model that was not loaded says so") {
    using model_type = t5<t5_small>;
    const auto unloaded = std::make_unique<model_type>();
    const std::vector<std::int32_t> ids{1, 2, 3};
    CHECK_THROWS_WITH_AS((void)unloaded->encode(token_ids(ids.data(), shape<dyn, dyn>(1, 3))),
                         doctest::Contains("finish_loading"), value_error);
    const auto loaded = test::random_model<model_type>();
    CHECK_NOTHROW((void)loaded->encode(token_ids(ids.data(), shape<dyn, dyn>(1, 3))));
}
