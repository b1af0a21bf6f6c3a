// packed_attention and attentional_pooler against a direct computation in double (LayerNorms,
// projections read from the packed `[q; k; v]` rows or the three separate weights, softmax
// attention head by head), at odd sizes: 5 queries over 7 or 11 context rows, 3 heads, a context
// as wide as the queries (packed weights) and wider (separate weights).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ctt/blocks/attentional_pooler.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;

/// Fills every parameter with N(0, 0.3^2) (norm weights near 1) and keeps a copy by name.
struct recorder {
    std::mt19937 rng{5};
    std::map<std::string, std::vector<float>> t;
    template <class View>
    void parameter(const std::string& name, View v) {
        std::normal_distribution<float> normal(0.f, 0.3f);
        const bool norm_weight =
            name.find("ln_") != std::string::npos && name.substr(name.size() - 6) == "weight";
        auto& copy = t[name];
        for (index_t i = 0; i < v.size(); ++i) {
            v.data()[i] = (norm_weight ? 1.f : 0.f) + normal(rng);
            copy.push_back(v.data()[i]);
        }
    }
};

using rows = std::vector<std::vector<double>>;

rows layer_norm(const rows& x, const std::vector<float>& g, const std::vector<float>& b) {
    rows y = x;
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

/// `x W^T + b` with `W` the `out` rows of `w` from row `first`, `b` from `bias[first]`.
rows project(const rows& x, const std::vector<float>& w, const std::vector<float>& bias,
             index_t first, index_t out) {
    const index_t in = x.front().size();
    rows y(x.size(), std::vector<double>(out));
    for (std::size_t r = 0; r < x.size(); ++r) {
        for (index_t o = 0; o < out; ++o) {
            double s = bias[first + o];
            for (index_t c = 0; c < in; ++c) {
                s += x[r][c] * w[(first + o) * in + c];
            }
            y[r][o] = s;
        }
    }
    return y;
}

rows attention(const rows& q, const rows& k, const rows& v, index_t heads) {
    const index_t width = q.front().size();
    const index_t d = width / heads;
    rows out(q.size(), std::vector<double>(width, 0.0));
    for (index_t h = 0; h < heads; ++h) {
        for (std::size_t i = 0; i < q.size(); ++i) {
            std::vector<double> s(k.size());
            double top = -1e300, total = 0;
            for (std::size_t j = 0; j < k.size(); ++j) {
                double dot = 0;
                for (index_t c = 0; c < d; ++c) {
                    dot += q[i][h * d + c] * k[j][h * d + c];
                }
                s[j] = dot / std::sqrt(static_cast<double>(d));
                top = std::max(top, s[j]);
            }
            for (auto& e : s) {
                e = std::exp(e - top);
                total += e;
            }
            for (std::size_t j = 0; j < k.size(); ++j) {
                for (index_t c = 0; c < d; ++c) {
                    out[i][h * d + c] += s[j] / total * v[j][h * d + c];
                }
            }
        }
    }
    return out;
}

rows random_rows(index_t n, index_t width, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    rows x(n, std::vector<double>(width));
    for (auto& r : x) {
        for (auto& e : r) {
            e = static_cast<float>(normal(rng));
        }
    }
    return x;
}

template <index_t W, index_t C>
void check_pooler(index_t length) {
    constexpr index_t heads = 3;
    constexpr index_t queries = 5;
    ctt::attentional_pooler<W, heads, queries, C> pooler;
    recorder rec;
    pooler.visit_parameters(rec, "p.");
    pooler.finish_loading();
    const rows x = random_rows(length, C, 17);
    ctt::tensor<float, ctt::shape<dyn, C>> input(length);
    for (index_t r = 0; r < length; ++r) {
        for (index_t c = 0; c < C; ++c) {
            input(r, c) = static_cast<float>(x[r][c]);
        }
    }
    ctt::tensor<float, ctt::shape<dyn, W>> out(queries);
    pooler.forward(ctt::tensor_view<const float, ctt::shape<dyn, C>>(input.view()), out.view());

    const auto& t = rec.t;
    rows query(queries, std::vector<double>(W));
    for (index_t r = 0; r < queries; ++r) {
        for (index_t c = 0; c < W; ++c) {
            query[r][c] = t.at("p.query")[r * W + c];
        }
    }
    const rows qn = layer_norm(query, t.at("p.ln_q.weight"), t.at("p.ln_q.bias"));
    const rows kn = layer_norm(x, t.at("p.ln_k.weight"), t.at("p.ln_k.bias"));
    const auto& bias = t.at("p.attn.in_proj_bias");
    rows q, k, v;
    if constexpr (W == C) {
        const auto& w = t.at("p.attn.in_proj_weight");
        q = project(qn, w, bias, 0, W);
        k = project(kn, w, bias, W, W);
        v = project(kn, w, bias, 2 * W, W);
    } else {
        // Separate weights: row `o` of each at offset 0, its bias at `part * W`.
        const auto shifted = [&](const std::string& name, index_t part) {
            std::vector<float> w(part * W * (part == 0 ? W : C), 0.f);
            const auto& own = t.at(name);
            w.insert(w.end(), own.begin(), own.end());
            return w;
        };
        q = project(qn, shifted("p.attn.q_proj_weight", 0), bias, 0, W);
        k = project(kn, shifted("p.attn.k_proj_weight", 1), bias, W, W);
        v = project(kn, shifted("p.attn.v_proj_weight", 2), bias, 2 * W, W);
    }
    const rows expected = project(attention(q, k, v, heads), t.at("p.attn.out_proj.weight"),
                                  t.at("p.attn.out_proj.bias"), 0, W);
    double worst = 0;
    for (index_t r = 0; r < queries; ++r) {
        for (index_t c = 0; c < W; ++c) {
            worst = std::max(worst, std::abs(expected[r][c] - out(r, c)));
        }
    }
    CHECK(worst < 1e-4);
}

} // namespace

TEST_CASE("attentional_pooler, packed weights (context as wide as the queries)") {
    check_pooler<15, 15>(7);
    check_pooler<15, 15>(11);
}

TEST_CASE("attentional_pooler, separate weights (a wider context)") {
    check_pooler<12, 20>(7);
    check_pooler<12, 20>(1);
}

TEST_CASE("attentional_pooler: queries are projected at load") {
    ctt::attentional_pooler<6, 2, 3> pooler;
    ctt::tensor<float, ctt::shape<dyn, 6>> x(4);
    ctt::tensor<float, ctt::shape<dyn, 6>> out(3);
    CHECK_THROWS_WITH_AS(
        pooler.forward(ctt::tensor_view<const float, ctt::shape<dyn, 6>>(x.view()), out.view()),
        doctest::Contains("finish_loading"), ctt::value_error);
}
