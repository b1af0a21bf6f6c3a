// transfo_xl at sizes unlike the shipped reference case (tests/conformance holds the original
// code's numbers): against a scalar composition of MemTransformerLM written here from its
// definition (the literal `_rel_shift` of a materialised BD matrix, the memory as the
// concatenated layer inputs) and fed the same random weights by name, post-LN and pre-LN,
// clamped and unclamped, with a memory shorter than the segments; segment by segment with
// memory against one long pass; batch rows against rows alone.
#include <ctt/models/transfo_xl.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "../support/random_model.hpp"
#include "../support/recording_filler.hpp"

namespace {

using namespace ctt;

// 3 heads of 7 over a width of 18 (heads * d_head != d_model), memory shorter than a segment,
// positions clamped at 4.
struct txl_clamped {
    static constexpr index_t n_token = 37;
    static constexpr index_t n_layer = 3;
    static constexpr index_t n_head = 3;
    static constexpr index_t d_model = 18;
    static constexpr index_t d_head = 7;
    static constexpr index_t d_inner = 26;
    static constexpr index_t mem_len = 5;
    static constexpr int clamp_len = 4;
    static constexpr bool pre_lnorm = false;
    static constexpr bool tie_weight = true;
};

// Pre-LN, untied output, unclamped, a longer memory.
struct txl_pre_ln {
    static constexpr index_t n_token = 29;
    static constexpr index_t n_layer = 2;
    static constexpr index_t n_head = 2;
    static constexpr index_t d_model = 16;
    static constexpr index_t d_head = 8;
    static constexpr index_t d_inner = 20;
    static constexpr index_t mem_len = 9;
    static constexpr int clamp_len = -1;
    static constexpr bool pre_lnorm = true;
    static constexpr bool tie_weight = false;
};

// A memory long enough for the whole text (141 tokens).
struct txl_long_memory {
    static constexpr index_t n_token = 31;
    static constexpr index_t n_layer = 2;
    static constexpr index_t n_head = 4;
    static constexpr index_t d_model = 20;
    static constexpr index_t d_head = 5;
    static constexpr index_t d_inner = 24;
    static constexpr index_t mem_len = 256;
    static constexpr int clamp_len = -1;
    static constexpr bool pre_lnorm = false;
    static constexpr bool tie_weight = true;
};

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

/// `x W^T (+ b)` with W `[out, in]` row-major.
matrix linear_bt(const matrix& x, const std::vector<float>& w, index_t out,
                 const std::vector<float>* b = nullptr) {
    matrix y(x.rows, out);
    for (index_t r = 0; r < x.rows; ++r) {
        for (index_t o = 0; o < out; ++o) {
            double s = b != nullptr ? (*b)[o] : 0.0;
            for (index_t i = 0; i < x.cols; ++i) {
                s += x(r, i) * w[o * x.cols + i];
            }
            y(r, o) = s;
        }
    }
    return y;
}

matrix layer_norm(const matrix& x, const std::vector<float>& g, const std::vector<float>& b) {
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

/// MemTransformerLM._forward over one sequence, written from mem_transformer.py.
template <class C>
class reference_txl {
public:
    explicit reference_txl(const std::map<std::string, std::vector<float>>& t)
        : t_(t)
        , mems_(C::n_layer, matrix(0, C::d_model)) {}

    matrix forward(const std::vector<std::int32_t>& ids) {
        constexpr index_t d = C::d_model, nh = C::n_head, dh = C::d_head, w = nh * dh;
        const index_t qlen = ids.size();
        const index_t mlen = mems_[0].rows;
        const index_t klen = mlen + qlen;
        matrix x(qlen, d);
        for (index_t i = 0; i < qlen; ++i) {
            for (index_t c = 0; c < d; ++c) {
                x(i, c) = at("word_emb.emb_layers.0.weight")[ids[i] * d + c] * std::sqrt(double(d));
            }
        }
        matrix pos(klen, d);
        for (index_t r = 0; r < klen; ++r) {
            double p = static_cast<double>(klen - 1 - r);
            if (C::clamp_len > 0) {
                p = std::min(p, static_cast<double>(C::clamp_len));
            }
            for (index_t k = 0; k < d / 2; ++k) {
                const double f = 1.0 / std::pow(10000.0, 2.0 * double(k) / double(d));
                pos(r, k) = std::sin(p * f);
                pos(r, d / 2 + k) = std::cos(p * f);
            }
        }
        const auto& u = at("r_w_bias");
        const auto& vb = at("r_r_bias");
        for (index_t l = 0; l < C::n_layer; ++l) {
            const std::string p = "layers." + std::to_string(l) + ".";
            matrix cat(klen, d);
            for (index_t r = 0; r < klen; ++r) {
                for (index_t c = 0; c < d; ++c) {
                    cat(r, c) = r < mlen ? mems_[l](r, c) : x(r - mlen, c);
                }
            }
            // _update_mems: the last mem_len of [mems | layer input].
            const index_t keep = std::min<index_t>(C::mem_len, klen);
            matrix next(keep, d);
            for (index_t r = 0; r < keep; ++r) {
                for (index_t c = 0; c < d; ++c) {
                    next(r, c) = cat(klen - keep + r, c);
                }
            }
            mems_[l] = next;
            const matrix h = C::pre_lnorm ? layer_norm(cat, at(p + "dec_attn.layer_norm.weight"),
                                                       at(p + "dec_attn.layer_norm.bias"))
                                          : cat;
            const matrix heads = linear_bt(h, at(p + "dec_attn.qkv_net.weight"), 3 * w);
            const matrix rk = linear_bt(pos, at(p + "dec_attn.r_net.weight"), w);
            matrix vec(qlen, w);
            for (index_t n = 0; n < nh; ++n) {
                // BD before the shift: [qlen, klen] over R's rows.
                matrix bd_raw(qlen, klen);
                matrix ac(qlen, klen);
                for (index_t i = 0; i < qlen; ++i) {
                    for (index_t j = 0; j < klen; ++j) {
                        double a = 0, b = 0;
                        for (index_t e = 0; e < dh; ++e) {
                            const double q = heads(mlen + i, n * dh + e);
                            a += (q + u[n * dh + e]) * heads(j, w + n * dh + e);
                            b += (q + vb[n * dh + e]) * rk(j, n * dh + e);
                        }
                        ac(i, j) = a;
                        bd_raw(i, j) = b;
                    }
                }
                // _rel_shift: pad a zero column in front, view as [klen + 1, qlen], drop the
                // first row, view as [qlen, klen].
                std::vector<double> padded(qlen * (klen + 1), 0.0);
                for (index_t i = 0; i < qlen; ++i) {
                    for (index_t j = 0; j < klen; ++j) {
                        padded[i * (klen + 1) + j + 1] = bd_raw(i, j);
                    }
                }
                const double scale = 1.0 / std::sqrt(double(dh));
                for (index_t i = 0; i < qlen; ++i) {
                    std::vector<double> s(klen);
                    double mx = -std::numeric_limits<double>::infinity();
                    for (index_t j = 0; j < klen; ++j) {
                        const double bd = padded[qlen + i * klen + j];
                        s[j] = j > i + mlen ? -std::numeric_limits<double>::infinity()
                                            : (ac(i, j) + bd) * scale;
                        mx = std::max(mx, s[j]);
                    }
                    double z = 0;
                    for (auto& e : s) {
                        e = std::exp(e - mx);
                        z += e;
                    }
                    for (index_t e = 0; e < dh; ++e) {
                        double acc = 0;
                        for (index_t j = 0; j < klen; ++j) {
                            acc += s[j] / z * heads(j, 2 * w + n * dh + e);
                        }
                        vec(i, n * dh + e) = acc;
                    }
                }
            }
            const matrix attn = linear_bt(vec, at(p + "dec_attn.o_net.weight"), d);
            for (index_t i = 0; i < qlen; ++i) {
                for (index_t c = 0; c < d; ++c) {
                    x(i, c) += attn(i, c);
                }
            }
            if (!C::pre_lnorm) {
                x = layer_norm(x, at(p + "dec_attn.layer_norm.weight"),
                               at(p + "dec_attn.layer_norm.bias"));
            }
            const matrix ff_in = C::pre_lnorm ? layer_norm(x, at(p + "pos_ff.layer_norm.weight"),
                                                           at(p + "pos_ff.layer_norm.bias"))
                                              : x;
            matrix mid = linear_bt(ff_in, at(p + "pos_ff.CoreNet.0.weight"), C::d_inner,
                                   &at(p + "pos_ff.CoreNet.0.bias"));
            for (auto& e : mid.v) {
                e = std::max(e, 0.0);
            }
            const matrix ff = linear_bt(mid, at(p + "pos_ff.CoreNet.3.weight"), d,
                                        &at(p + "pos_ff.CoreNet.3.bias"));
            for (index_t i = 0; i < qlen; ++i) {
                for (index_t c = 0; c < d; ++c) {
                    x(i, c) += ff(i, c);
                }
            }
            if (!C::pre_lnorm) {
                x = layer_norm(x, at(p + "pos_ff.layer_norm.weight"),
                               at(p + "pos_ff.layer_norm.bias"));
            }
        }
        return linear_bt(
            x, at(C::tie_weight ? "word_emb.emb_layers.0.weight" : "crit.out_layers.0.weight"),
            C::n_token, &at("crit.out_layers.0.bias"));
    }

private:
    const std::vector<float>& at(const std::string& name) const {
        const auto it = t_.find(name);
        REQUIRE_MESSAGE(it != t_.end(), name);
        return it->second;
    }
    const std::map<std::string, std::vector<float>>& t_;
    std::vector<matrix> mems_;
};

template <class C>
std::unique_ptr<transfo_xl<C>> recorded_model(test::recording_filler& filler) {
    auto m = std::make_unique<transfo_xl<C>>();
    m->visit_parameters(filler, "");
    return m;
}

token_ids view_of(const std::vector<std::int32_t>& ids, index_t batch) {
    return token_ids(ids.data(), shape<dyn, dyn>(batch, ids.size() / batch));
}

template <class C>
void check_against_reference(const std::vector<index_t>& lengths) {
    test::recording_filler filler;
    const auto model = recorded_model<C>(filler);
    constexpr index_t batch = 2;
    auto memory = model->new_memory(batch);
    std::vector<reference_txl<C>> refs(batch, reference_txl<C>(filler.tensors));
    unsigned seed = 11;
    for (const index_t length : lengths) {
        const auto ids = test::random_tokens(batch * length, C::n_token, seed++);
        const auto logits = model->forward(view_of(ids, batch), memory);
        REQUIRE(logits.rows() == batch * length);
        for (index_t b = 0; b < batch; ++b) {
            const std::vector<std::int32_t> row(ids.begin() + b * length,
                                                ids.begin() + (b + 1) * length);
            const matrix ref = refs[b].forward(row);
            double worst = 0, peak = 1;
            for (index_t t = 0; t < length; ++t) {
                for (index_t c = 0; c < C::n_token; ++c) {
                    worst = std::max(worst, std::abs(logits(b * length + t, c) - ref(t, c)));
                    peak = std::max(peak, std::abs(ref(t, c)));
                }
            }
            INFO("segment of ", length, " tokens, row ", b, ", memory ", memory.length());
            CHECK(worst <= 2e-4 * peak);
        }
    }
    index_t total = 0;
    for (const index_t length : lengths) {
        total += length;
    }
    CHECK(memory.length() == std::min<index_t>(C::mem_len, total));
}

} // namespace

TEST_CASE(
    "transfo_xl matches MemTransformerLM written out, clamped, memory shorter than segments") {
    check_against_reference<txl_clamped>({6, 4, 7});
}

TEST_CASE("transfo_xl matches MemTransformerLM written out, pre-LN, untied output") {
    check_against_reference<txl_pre_ln>({5, 8, 3});
}

TEST_CASE("transfo_xl: segment by segment with memory equals one long pass") {
    using model_type = transfo_xl<txl_long_memory>;
    const auto model = test::random_model<model_type>();
    constexpr index_t batch = 2;
    // Segments of more than one block of queries (relative_attention_block::query_block).
    const index_t lengths[] = {70, 5, 66};
    index_t total = 0;
    for (const index_t l : lengths) {
        total += l;
    }
    const auto text = test::random_tokens(batch * total, txl_long_memory::n_token, 5);
    auto whole_memory = model->new_memory(batch);
    const auto whole = model->forward(view_of(text, batch), whole_memory);
    auto memory = model->new_memory(batch);
    index_t start = 0;
    for (const index_t length : lengths) {
        std::vector<std::int32_t> ids;
        for (index_t b = 0; b < batch; ++b) {
            ids.insert(ids.end(), text.begin() + b * total + start,
                       text.begin() + b * total + start + length);
        }
        const auto logits = model->forward(view_of(ids, batch), memory);
        double worst = 0;
        for (index_t b = 0; b < batch; ++b) {
            for (index_t t = 0; t < length; ++t) {
                for (index_t c = 0; c < txl_long_memory::n_token; ++c) {
                    worst = std::max(
                        worst, static_cast<double>(std::abs(logits(b * length + t, c) -
                                                            whole(b * total + start + t, c))));
                }
            }
        }
        INFO("segment at ", start);
        CHECK(worst < 1e-4);
        start += length;
        CHECK(memory.length() == start);
    }
}

TEST_CASE("transfo_xl: batch rows do not see each other") {
    using model_type = transfo_xl<txl_clamped>;
    const auto model = test::random_model<model_type>();
    const auto ids = test::random_tokens(3 * 6, txl_clamped::n_token, 9);
    auto memory = model->new_memory(3);
    (void)model->forward(view_of(ids, 3), memory);
    const auto next = test::random_tokens(3 * 4, txl_clamped::n_token, 10);
    const auto together = model->forward(view_of(next, 3), memory);
    for (index_t b = 0; b < 3; ++b) {
        auto alone_memory = model->new_memory(1);
        const std::vector<std::int32_t> first(ids.begin() + b * 6, ids.begin() + (b + 1) * 6);
        const std::vector<std::int32_t> second(next.begin() + b * 4, next.begin() + (b + 1) * 4);
        (void)model->forward(view_of(first, 1), alone_memory);
        const auto alone = model->forward(view_of(second, 1), alone_memory);
        CHECK(test::max_diff({alone.data(), alone.size()},
                             {together[b * 4].data(), 4 * txl_clamped::n_token}) < 1e-5);
    }
}

TEST_CASE("transfo_xl: a memory of another batch is refused") {
    const auto model = test::random_model<transfo_xl<txl_clamped>>();
    auto memory = model->new_memory(2);
    const auto ids = test::random_tokens(3 * 4, txl_clamped::n_token, 1);
    CHECK_THROWS_AS((void)model->forward(view_of(ids, 3), memory), shape_error);
}

TEST_CASE("segment_memory keeps the last capacity inputs of each layer") {
    segment_memory<2> memory(2, 1, index_t{3});
    const float a[] = {1, 2, 3, 4};
    memory.update(0, 0, tensor_view<const float, shape<dyn, 2>>(a, shape<dyn, 2>(2)));
    CHECK(memory.length(0) == 2);
    CHECK(memory.length(1) == 0);
    const float b[] = {5, 6, 7, 8, 9, 10, 11, 12};
    memory.update(0, 0, tensor_view<const float, shape<dyn, 2>>(b, shape<dyn, 2>(4)));
    REQUIRE(memory.length(0) == 3);
    CHECK(memory.states(0, 0)(0, 0) == 7);
    CHECK(memory.states(0, 0)(2, 1) == 12);
    segment_memory<2> unbounded(1, 1, std::nullopt);
    unbounded.update(0, 0, tensor_view<const float, shape<dyn, 2>>(b, shape<dyn, 2>(4)));
    CHECK(unbounded.length() == 4);
    segment_memory<2> none(1, 1, index_t{0});
    none.update(0, 0, tensor_view<const float, shape<dyn, 2>>(b, shape<dyn, 2>(4)));
    CHECK(none.length() == 0);
    memory.clear();
    CHECK(memory.length(0) == 0);
}
