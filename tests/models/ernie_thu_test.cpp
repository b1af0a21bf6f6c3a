// ernie_thu at sizes unlike the shipped reference case (tests/conformance holds knowledge_bert's
// numbers): another layer list (mix first, norm twice, sim between and after), entity width 12
// with 3 heads, padding, a sequence without any entity; against a scalar composition of
// knowledge_bert.BertModel written here from its definition (the -10000 masks, the entity
// stream multiplied by ent_mask) and fed the same random weights by name; batch rows alone;
// knowledge_fusion_layer against its formula.
#include <ctt/blocks/knowledge_fusion.hpp>
#include <ctt/models/ernie_thu.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../support/random_model.hpp"
#include "../support/recording_filler.hpp"

namespace {

using namespace ctt;

struct ernie_other {
    static constexpr index_t vocab_size = 43;
    static constexpr index_t hidden_size = 20;
    static constexpr index_t num_hidden_layers = 5;
    static constexpr index_t num_attention_heads = 4;
    static constexpr index_t intermediate_size = 28;
    static constexpr index_t max_position_embeddings = 16;
    static constexpr index_t type_vocab_size = 3;
    static constexpr index_t entity_dim = 12;
    static constexpr index_t entity_heads = 3;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr std::array<ernie_layer, 5> layer_types{
        ernie_layer::mix, ernie_layer::sim, ernie_layer::norm, ernie_layer::norm, ernie_layer::sim};
};

using model_type = ernie_thu<ernie_other>;

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

class reference_ernie {
public:
    explicit reference_ernie(const std::map<std::string, std::vector<float>>& t)
        : t_(t) {}

    /// `BertModel.forward` of one sequence: every layer's states, and the pooled output.
    std::pair<std::vector<matrix>, std::vector<double>>
    forward(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& types,
            const std::vector<std::int32_t>& mask, const std::vector<float>& ent,
            const std::vector<std::int32_t>& ent_mask) const {
        constexpr index_t h = ernie_other::hidden_size, e = ernie_other::entity_dim;
        const index_t n = ids.size();
        matrix x(n, h);
        for (index_t i = 0; i < n; ++i) {
            for (index_t c = 0; c < h; ++c) {
                x(i, c) = at("embeddings.word_embeddings.weight")[ids[i] * h + c] +
                          at("embeddings.position_embeddings.weight")[i * h + c] +
                          at("embeddings.token_type_embeddings.weight")[types[i] * h + c];
            }
        }
        x = norm(x, "embeddings.LayerNorm.");
        matrix he(n, e);
        for (index_t i = 0; i < n * e; ++i) {
            he.v[i] = ent[i];
        }
        std::vector<double> text_bias(n), ent_bias(n);
        for (index_t i = 0; i < n; ++i) {
            text_bias[i] = (1.0 - mask[i]) * -10000.0;
            ent_bias[i] = (1.0 - ent_mask[i]) * -10000.0;
        }
        std::vector<matrix> layers;
        for (index_t l = 0; l < ernie_other::num_hidden_layers; ++l) {
            const std::string p = "encoder.layer." + std::to_string(l) + ".";
            const auto kind = ernie_other::layer_types[l];
            matrix a = add(linear(attend(x, p + "attention.self.", text_bias,
                                         ernie_other::num_attention_heads),
                                  p + "attention.output.dense."),
                           x);
            a = norm(a, p + "attention.output.LayerNorm.");
            if (kind == ernie_layer::sim) {
                x = norm(
                    add(linear(act(linear(a, p + "intermediate.dense.")), p + "output.dense."), a),
                    p + "output.LayerNorm.");
                layers.push_back(x);
                continue;
            }
            matrix ae = he;
            if (kind == ernie_layer::norm) {
                ae = norm(add(linear(attend(he, p + "attention.self_ent.", ent_bias,
                                            ernie_other::entity_heads),
                                     p + "attention.output_ent.dense."),
                              he),
                          p + "attention.output_ent.LayerNorm.");
            }
            for (index_t i = 0; i < n; ++i) {
                for (index_t c = 0; c < e; ++c) {
                    ae(i, c) *= ent_mask[i];
                }
            }
            const matrix mid = act(add(linear(a, p + "intermediate.dense."),
                                       linear(ae, p + "intermediate.dense_ent.")));
            x = norm(add(linear(mid, p + "output.dense."), a), p + "output.LayerNorm.");
            he = norm(add(linear(mid, p + "output.dense_ent."), ae), p + "output.LayerNorm_ent.");
            layers.push_back(x);
        }
        matrix first(1, h);
        for (index_t c = 0; c < h; ++c) {
            first(0, c) = x(0, c);
        }
        const matrix pooled = linear(first, "pooler.dense.");
        std::vector<double> out(h);
        for (index_t c = 0; c < h; ++c) {
            out[c] = std::tanh(pooled(0, c));
        }
        return {layers, out};
    }

private:
    const std::vector<float>& at(const std::string& name) const {
        const auto it = t_.find(name);
        REQUIRE_MESSAGE(it != t_.end(), name);
        return it->second;
    }
    matrix linear(const matrix& x, const std::string& p) const {
        const auto& w = at(p + "weight");
        const auto& b = at(p + "bias");
        const index_t out = b.size();
        matrix y(x.rows, out);
        for (index_t r = 0; r < x.rows; ++r) {
            for (index_t o = 0; o < out; ++o) {
                double s = b[o];
                for (index_t i = 0; i < x.cols; ++i) {
                    s += x(r, i) * w[o * x.cols + i];
                }
                y(r, o) = s;
            }
        }
        return y;
    }
    static matrix add(matrix a, const matrix& b) {
        for (index_t i = 0; i < a.v.size(); ++i) {
            a.v[i] += b.v[i];
        }
        return a;
    }
    static matrix act(matrix a) {
        for (auto& x : a.v) {
            x = x * 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
        }
        return a;
    }
    matrix norm(const matrix& x, const std::string& p) const {
        const auto& g = at(p + "weight");
        const auto& b = at(p + "bias");
        matrix y(x.rows, x.cols);
        for (index_t r = 0; r < x.rows; ++r) {
            double mean = 0, var = 0;
            for (index_t c = 0; c < x.cols; ++c) {
                mean += x(r, c);
            }
            mean /= double(x.cols);
            for (index_t c = 0; c < x.cols; ++c) {
                var += (x(r, c) - mean) * (x(r, c) - mean);
            }
            var /= double(x.cols);
            for (index_t c = 0; c < x.cols; ++c) {
                y(r, c) = g[c] * (x(r, c) - mean) / std::sqrt(var + 1e-12) + b[c];
            }
        }
        return y;
    }
    /// BertSelfAttention with an additive key bias.
    matrix attend(const matrix& x, const std::string& p, const std::vector<double>& key_bias,
                  index_t heads) const {
        const matrix q = linear(x, p + "query."), k = linear(x, p + "key."),
                     v = linear(x, p + "value.");
        const index_t n = x.rows, w = q.cols, d = w / heads;
        matrix ctx(n, w);
        for (index_t hh = 0; hh < heads; ++hh) {
            for (index_t i = 0; i < n; ++i) {
                std::vector<double> s(n);
                for (index_t j = 0; j < n; ++j) {
                    double dot = 0;
                    for (index_t c = 0; c < d; ++c) {
                        dot += q(i, hh * d + c) * k(j, hh * d + c);
                    }
                    s[j] = dot / std::sqrt(double(d)) + key_bias[j];
                }
                const double mx = *std::max_element(s.begin(), s.end());
                double z = 0;
                for (auto& y : s) {
                    y = std::exp(y - mx);
                    z += y;
                }
                for (index_t c = 0; c < d; ++c) {
                    double acc = 0;
                    for (index_t j = 0; j < n; ++j) {
                        acc += s[j] / z * v(j, hh * d + c);
                    }
                    ctx(i, hh * d + c) = acc;
                }
            }
        }
        return ctx;
    }

    const std::map<std::string, std::vector<float>>& t_;
};

token_ids view_of(const std::vector<std::int32_t>& ids, index_t batch) {
    return token_ids(ids.data(), shape<dyn, dyn>(batch, ids.size() / batch));
}

struct batch_inputs {
    index_t batch = 3, length = 9;
    std::vector<std::int32_t> ids, types, mask, ent_mask;
    std::vector<float> ent;
    explicit batch_inputs(unsigned seed) {
        ids = test::random_tokens(batch * length, ernie_other::vocab_size, seed);
        std::mt19937 rng(seed + 1);
        std::normal_distribution<float> normal(0.f, 1.f);
        for (index_t b = 0; b < batch; ++b) {
            for (index_t t = 0; t < length; ++t) {
                types.push_back(static_cast<std::int32_t>((t * 3) / length));
                mask.push_back(b == 1 && t >= length - 3 ? 0 : 1);
                // Row 2 has no entity at all; rows 0 and 1 at three mention starts.
                ent_mask.push_back(b != 2 && (t == 1 || t == 4 || t == 6) ? 1 : 0);
                for (index_t c = 0; c < ernie_other::entity_dim; ++c) {
                    ent.push_back(ent_mask.back() != 0 ? normal(rng) : 0.0f);
                }
            }
        }
    }
    [[nodiscard]] std::vector<std::int32_t> row(const std::vector<std::int32_t>& v,
                                                index_t b) const {
        return {v.begin() + b * length, v.begin() + (b + 1) * length};
    }
};

model_type::outputs run(const model_type& m, const batch_inputs& in) {
    const auto ids = view_of(in.ids, in.batch);
    const auto types = view_of(in.types, in.batch);
    const auto mask = view_of(in.mask, in.batch);
    const auto ent_mask = view_of(in.ent_mask, in.batch);
    const knowledge_inputs k{
        tensor_view<const float, shape<dyn, dyn, dyn>>(
            in.ent.data(), shape<dyn, dyn, dyn>(in.batch, in.length, ernie_other::entity_dim)),
        &ent_mask, &types, &mask};
    return m.forward(ids, k);
}

} // namespace

TEST_CASE("ernie_thu matches knowledge_bert written out, other layer list and entity widths") {
    test::recording_filler filler;
    auto model = std::make_unique<model_type>();
    model->visit_parameters(filler, "");
    const batch_inputs in(17);
    const auto out = run(*model, in);
    REQUIRE(out.encoded_layers.size() == 5);
    const reference_ernie ref(filler.tensors);
    for (index_t b = 0; b < in.batch; ++b) {
        const std::vector<float> ent(in.ent.begin() + b * in.length * ernie_other::entity_dim,
                                     in.ent.begin() +
                                         (b + 1) * in.length * ernie_other::entity_dim);
        const auto [layers, pooled] = ref.forward(in.row(in.ids, b), in.row(in.types, b),
                                                  in.row(in.mask, b), ent, in.row(in.ent_mask, b));
        for (index_t l = 0; l < 5; ++l) {
            double worst = 0;
            for (index_t t = 0; t < in.length; ++t) {
                if (in.mask[b * in.length + t] == 0) {
                    continue; // padding positions are not compared (as the reference case)
                }
                for (index_t c = 0; c < ernie_other::hidden_size; ++c) {
                    worst = std::max(worst, std::abs(out.encoded_layers[l](b * in.length + t, c) -
                                                     layers[l](t, c)));
                }
            }
            INFO("row ", b, " layer ", l);
            CHECK(worst < 2e-4);
        }
        double worst = 0;
        for (index_t c = 0; c < ernie_other::hidden_size; ++c) {
            worst = std::max(worst, std::abs(out.pooled(b, c) - pooled[c]));
        }
        CHECK(worst < 2e-4);
    }
}

TEST_CASE("ernie_thu: batch rows do not see each other") {
    const auto model = test::random_model<model_type>();
    const batch_inputs in(5);
    const auto together = run(*model, in);
    for (index_t b = 0; b < in.batch; ++b) {
        batch_inputs one(5);
        one.batch = 1;
        one.ids = in.row(in.ids, b);
        one.types = in.row(in.types, b);
        one.mask = in.row(in.mask, b);
        one.ent_mask = in.row(in.ent_mask, b);
        one.ent.assign(in.ent.begin() + b * in.length * ernie_other::entity_dim,
                       in.ent.begin() + (b + 1) * in.length * ernie_other::entity_dim);
        const auto alone = run(*model, one);
        for (index_t l = 0; l < 5; ++l) {
            double worst = 0;
            for (index_t t = 0; t < in.length; ++t) {
                for (index_t c = 0; c < ernie_other::hidden_size; ++c) {
                    worst = std::max(worst, static_cast<double>(std::abs(
                                                alone.encoded_layers[l](t, c) -
                                                together.encoded_layers[l](b * in.length + t, c))));
                }
            }
            CHECK(worst < 1e-5);
        }
    }
}

TEST_CASE("ernie_thu: entity inputs of another width or length are refused") {
    const auto model = test::random_model<model_type>();
    const batch_inputs in(3);
    const auto ids = view_of(in.ids, in.batch);
    const knowledge_inputs wrong{tensor_view<const float, shape<dyn, dyn, dyn>>(
                                     in.ent.data(), shape<dyn, dyn, dyn>(in.batch, in.length, 4)),
                                 nullptr, nullptr, nullptr};
    CHECK_THROWS_AS((void)model->forward(ids, wrong), shape_error);
}

TEST_CASE("knowledge_fusion_layer follows act(W_t h_t + W_e h_e) into both streams") {
    knowledge_fusion_layer<3, 2, 4, activation::relu> f;
    test::random_filler random;
    random.parameter("token_in.weight", f.token_in.weight.view());
    random.parameter("token_in.bias", f.token_in.bias.view());
    random.parameter("entity_in.weight", f.entity_in.weight.view());
    random.parameter("entity_in.bias", f.entity_in.bias.view());
    random.parameter("token_out.weight", f.token_out.weight.view());
    random.parameter("token_out.bias", f.token_out.bias.view());
    random.parameter("entity_out.weight", f.entity_out.weight.view());
    random.parameter("entity_out.bias", f.entity_out.bias.view());
    f.token_norm.weight.fill(1.0f);
    f.token_norm.bias.fill(0.0f);
    f.entity_norm.weight.fill(2.0f);
    f.entity_norm.bias.fill(0.5f);
    tensor<float, shape<dyn, 3>> t(1);
    tensor<float, shape<dyn, 2>> e(1);
    const float t0[] = {0.3f, -1.0f, 0.7f};
    const float e0[] = {1.5f, -0.25f};
    std::copy_n(t0, 3, t.data());
    std::copy_n(e0, 2, e.data());
    tensor<float, shape<dyn, 4>> scratch(1);
    f.forward(t.view(), e.view(), scratch.view());
    double mid[4];
    for (index_t k = 0; k < 4; ++k) {
        double s = f.token_in.bias[k] + f.entity_in.bias[k];
        for (index_t i = 0; i < 3; ++i) {
            s += f.token_in.weight(k, i) * t0[i];
        }
        for (index_t i = 0; i < 2; ++i) {
            s += f.entity_in.weight(k, i) * e0[i];
        }
        mid[k] = std::max(s, 0.0);
    }
    const auto check_stream = [&](const auto& lin, const float* residual, index_t n, double g,
                                  double b, const auto& got) {
        std::vector<double> y(n);
        double mean = 0, var = 0;
        for (index_t o = 0; o < n; ++o) {
            y[o] = lin.bias[o] + residual[o];
            for (index_t k = 0; k < 4; ++k) {
                y[o] += lin.weight(o, k) * mid[k];
            }
            mean += y[o] / double(n);
        }
        for (index_t o = 0; o < n; ++o) {
            var += (y[o] - mean) * (y[o] - mean) / double(n);
        }
        for (index_t o = 0; o < n; ++o) {
            CHECK(got(0, o) ==
                  doctest::Approx(g * (y[o] - mean) / std::sqrt(var + 1e-5) + b).epsilon(1e-4));
        }
    };
    check_stream(f.token_out, t0, 3, 1.0, 0.0, t);
    check_stream(f.entity_out, e0, 2, 2.0, 0.5, e);
}
