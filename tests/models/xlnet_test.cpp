// xlnet at sizes unlike the shipped reference case (tests/conformance holds HF's numbers):
// against a scalar composition of XLNetLMHeadModel written here from HF's definition (the
// literal `rel_shift_bnij` of a materialised BD matrix, the `-1e30` masks, the segment
// matrix, `target_mapping` applied by einsum) and fed the same random weights by name; content
// stream segment by segment with memory and token types, two streams under a random
// factorisation order with a memory and a mapping that mixes two positions; batch rows alone.
#include <ctt/models/xlnet.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../support/random_model.hpp"
#include "../support/recording_filler.hpp"

namespace {

using namespace ctt;

// 2 heads of 5 over a width of 16, memory of 4, distances clamped at 3, GELU.
struct xlnet_clamped {
    static constexpr index_t vocab_size = 41;
    static constexpr index_t d_model = 16;
    static constexpr index_t n_layer = 2;
    static constexpr index_t n_head = 2;
    static constexpr index_t d_head = 5;
    static constexpr index_t d_inner = 22;
    static constexpr activation ff_activation = activation::gelu_erf;
    static constexpr float layer_norm_eps = 1e-12f;
    static constexpr index_t mem_len = 4;
    static constexpr int clamp_len = 3;
    static constexpr bool tie_word_embeddings = true;
};

// 3 heads of 6, three layers, a memory that keeps everything, ReLU, untied output.
struct xlnet_unbounded {
    static constexpr index_t vocab_size = 33;
    static constexpr index_t d_model = 18;
    static constexpr index_t n_layer = 3;
    static constexpr index_t n_head = 3;
    static constexpr index_t d_head = 6;
    static constexpr index_t d_inner = 20;
    static constexpr activation ff_activation = activation::relu;
    static constexpr float layer_norm_eps = 1e-5f;
    static constexpr index_t mem_len = 0;
    static constexpr int clamp_len = -1;
    static constexpr bool tie_word_embeddings = false;
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

/// `x W` with W `[in, out]` (`transpose`: W `[out, in]`), plus `b`.
matrix project(const matrix& x, const std::vector<float>& w, index_t out, bool transpose,
               const std::vector<float>* b = nullptr) {
    matrix y(x.rows, out);
    for (index_t r = 0; r < x.rows; ++r) {
        for (index_t o = 0; o < out; ++o) {
            double s = b != nullptr ? (*b)[o] : 0.0;
            for (index_t i = 0; i < x.cols; ++i) {
                s += x(r, i) * (transpose ? w[o * x.cols + i] : w[i * out + o]);
            }
            y(r, o) = s;
        }
    }
    return y;
}

matrix layer_norm(const matrix& x, const std::vector<float>& g, const std::vector<float>& b,
                  double eps) {
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
            y(r, c) = (x(r, c) - mean) / std::sqrt(var + eps) * g[c] + b[c];
        }
    }
    return y;
}

/// One sequence through XLNetModel + lm_loss, written from HF's modeling_xlnet.
template <class C>
class reference_xlnet {
public:
    explicit reference_xlnet(const std::map<std::string, std::vector<float>>& t)
        : t_(t)
        , mems_(C::n_layer, matrix(0, C::d_model)) {}

    /// Logits of h, or of g when `mapping` (`[targets][length]`) is given.
    matrix forward(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>* types,
                   const std::vector<float>* perm, const std::vector<float>* mapping,
                   index_t targets, const std::vector<std::int32_t>* pad = nullptr) {
        constexpr index_t d = C::d_model, nh = C::n_head, dh = C::d_head, w = nh * dh;
        const index_t qlen = ids.size();
        const index_t mlen = mems_[0].rows;
        const index_t klen = mlen + qlen;
        matrix h(qlen, d);
        for (index_t i = 0; i < qlen; ++i) {
            for (index_t c = 0; c < d; ++c) {
                h(i, c) = at("transformer.word_embedding.weight")[ids[i] * d + c];
            }
        }
        matrix g(targets, d);
        for (index_t m = 0; m < targets; ++m) {
            for (index_t c = 0; c < d; ++c) {
                g(m, c) = at("transformer.mask_emb")[c];
            }
        }
        const index_t plen = klen + qlen;
        matrix pos(plen, d);
        for (index_t p = 0; p < plen; ++p) {
            double dist = double(klen) - double(p);
            if (C::clamp_len > 0) {
                dist = std::clamp(dist, -double(C::clamp_len), double(C::clamp_len));
            }
            for (index_t k = 0; k < d / 2; ++k) {
                const double f = 1.0 / std::pow(10000.0, 2.0 * double(k) / double(d));
                pos(p, k) = std::sin(dist * f);
                pos(p, d / 2 + k) = std::cos(dist * f);
            }
        }
        // attn_mask[i][j] (1: masked) over [mems | segment]; the content stream's non_tgt_mask.
        // data_mask = input_mask + perm_mask, binarised; then minus the identity for content.
        const auto masked = [&](index_t i, index_t j, bool content) {
            if ((perm == nullptr && pad == nullptr) || j < mlen) {
                return false;
            }
            if (content && j - mlen == i) {
                return false;
            }
            const bool padded = pad != nullptr && (*pad)[j - mlen] == 0;
            return padded || (perm != nullptr && (*perm)[i * qlen + (j - mlen)] > 0);
        };
        const auto different_segment = [&](index_t i, index_t j) {
            const std::int32_t kt = j < mlen ? 0 : (*types)[j - mlen];
            return (*types)[i] != kt;
        };
        for (index_t l = 0; l < C::n_layer; ++l) {
            const std::string p = "transformer.layer." + std::to_string(l) + ".";
            matrix cat(klen, d);
            for (index_t r = 0; r < klen; ++r) {
                for (index_t c = 0; c < d; ++c) {
                    cat(r, c) = r < mlen ? mems_[l](r, c) : h(r - mlen, c);
                }
            }
            const index_t keep = C::mem_len == 0 ? klen : std::min<index_t>(C::mem_len, klen);
            matrix next(keep, d);
            for (index_t r = 0; r < keep; ++r) {
                for (index_t c = 0; c < d; ++c) {
                    next(r, c) = cat(klen - keep + r, c);
                }
            }
            mems_[l] = next;
            const matrix k = project(cat, at(p + "rel_attn.k"), w, false);
            const matrix v = project(cat, at(p + "rel_attn.v"), w, false);
            const matrix kr = project(pos, at(p + "rel_attn.r"), w, false);
            const auto& rw = at(p + "rel_attn.r_w_bias");
            const auto& rr = at(p + "rel_attn.r_r_bias");
            const auto& rs = at(p + "rel_attn.r_s_bias");
            const auto& seg = at(p + "rel_attn.seg_embed");
            // rel_attn_core over query rows q (row i at segment position i).
            const auto core = [&](const matrix& q, bool content) {
                matrix vec(q.rows, w);
                for (index_t n = 0; n < nh; ++n) {
                    matrix bd_raw(q.rows, plen);
                    for (index_t i = 0; i < q.rows; ++i) {
                        for (index_t pp = 0; pp < plen; ++pp) {
                            double s = 0;
                            for (index_t e = 0; e < dh; ++e) {
                                s += (q(i, n * dh + e) + rr[n * dh + e]) * kr(pp, n * dh + e);
                            }
                            bd_raw(i, pp) = s;
                        }
                    }
                    for (index_t i = 0; i < q.rows; ++i) {
                        std::vector<double> score(klen);
                        for (index_t j = 0; j < klen; ++j) {
                            double ac = 0, ef = 0;
                            for (index_t e = 0; e < dh; ++e) {
                                ac += (q(i, n * dh + e) + rw[n * dh + e]) * k(j, n * dh + e);
                            }
                            if (types != nullptr) {
                                const index_t s = different_segment(i, j) ? 1 : 0;
                                for (index_t e = 0; e < dh; ++e) {
                                    ef += (q(i, n * dh + e) + rs[n * dh + e]) *
                                          seg[s * w + n * dh + e];
                                }
                            }
                            // rel_shift_bnij: view [plen, qlen], drop a row, view
                            // [qlen, plen - 1], keep klen columns.
                            const index_t flat = q.rows + i * (plen - 1) + j;
                            const double bd = bd_raw(flat / plen, flat % plen);
                            score[j] = (ac + bd + ef) / std::sqrt(double(dh)) -
                                       (masked(i, j, content) ? 1e30 : 0.0);
                        }
                        const double mx = *std::max_element(score.begin(), score.end());
                        double z = 0;
                        for (auto& s : score) {
                            s = std::exp(s - mx);
                            z += s;
                        }
                        for (index_t e = 0; e < dh; ++e) {
                            double acc = 0;
                            for (index_t j = 0; j < klen; ++j) {
                                acc += score[j] / z * v(j, n * dh + e);
                            }
                            vec(i, n * dh + e) = acc;
                        }
                    }
                }
                return vec;
            };
            const auto post = [&](const matrix& vec, const matrix& residual) {
                matrix out = project(vec, at(p + "rel_attn.o"), d, true);
                for (index_t i = 0; i < out.rows; ++i) {
                    for (index_t c = 0; c < d; ++c) {
                        out(i, c) += residual(i, c);
                    }
                }
                out = layer_norm(out, at(p + "rel_attn.layer_norm.weight"),
                                 at(p + "rel_attn.layer_norm.bias"), C::layer_norm_eps);
                matrix mid = project(out, at(p + "ff.layer_1.weight"), C::d_inner, true,
                                     &at(p + "ff.layer_1.bias"));
                for (auto& e : mid.v) {
                    e = C::ff_activation == activation::relu
                            ? std::max(e, 0.0)
                            : 0.5 * e * (1 + std::erf(e / std::sqrt(2.0)));
                }
                matrix ff =
                    project(mid, at(p + "ff.layer_2.weight"), d, true, &at(p + "ff.layer_2.bias"));
                for (index_t i = 0; i < ff.rows; ++i) {
                    for (index_t c = 0; c < d; ++c) {
                        ff(i, c) += out(i, c);
                    }
                }
                return layer_norm(ff, at(p + "ff.layer_norm.weight"), at(p + "ff.layer_norm.bias"),
                                  C::layer_norm_eps);
            };
            const matrix qh = project(h, at(p + "rel_attn.q"), w, false);
            const matrix vec_h = core(qh, true);
            if (mapping != nullptr) {
                const matrix qg = project(g, at(p + "rel_attn.q"), w, false);
                matrix placed(qlen, w);
                for (index_t m = 0; m < targets; ++m) {
                    for (index_t i = 0; i < qlen; ++i) {
                        for (index_t e = 0; e < w; ++e) {
                            placed(i, e) += (*mapping)[m * qlen + i] * qg(m, e);
                        }
                    }
                }
                const matrix vec_placed = core(placed, false);
                matrix vec_g(targets, w);
                for (index_t m = 0; m < targets; ++m) {
                    for (index_t i = 0; i < qlen; ++i) {
                        for (index_t e = 0; e < w; ++e) {
                            vec_g(m, e) += (*mapping)[m * qlen + i] * vec_placed(i, e);
                        }
                    }
                }
                g = post(vec_g, g);
            }
            h = post(vec_h, h);
        }
        const matrix& out = mapping != nullptr ? g : h;
        return project(
            out,
            at(C::tie_word_embeddings ? "transformer.word_embedding.weight" : "lm_loss.weight"),
            C::vocab_size, true, &at("lm_loss.bias"));
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

token_ids view_of(const std::vector<std::int32_t>& ids, index_t batch) {
    return token_ids(ids.data(), shape<dyn, dyn>(batch, ids.size() / batch));
}

template <class T>
std::vector<T> row_of(const std::vector<T>& v, index_t b, index_t n) {
    return std::vector<T>(v.begin() + b * n, v.begin() + (b + 1) * n);
}

template <class Logits>
void check_rows(const Logits& ours, index_t first_row, const matrix& ref) {
    double worst = 0, peak = 1;
    for (index_t r = 0; r < ref.rows; ++r) {
        for (index_t c = 0; c < ref.cols; ++c) {
            worst = std::max(worst, std::abs(ours(first_row + r, c) - ref(r, c)));
            peak = std::max(peak, std::abs(ref(r, c)));
        }
    }
    CHECK(worst <= 2e-4 * peak);
}

std::vector<std::int32_t> random_types(index_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) {
        x = static_cast<std::int32_t>(rng() % 2);
    }
    return t;
}

template <class C>
void check_content_stream(const std::vector<index_t>& lengths) {
    test::recording_filler filler;
    auto model = std::make_unique<xlnet<C>>();
    model->visit_parameters(filler, "");
    constexpr index_t batch = 2;
    auto memory = model->new_memory(batch);
    std::vector<reference_xlnet<C>> refs(batch, reference_xlnet<C>(filler.tensors));
    unsigned seed = 3;
    for (const index_t length : lengths) {
        const auto ids = test::random_tokens(batch * length, C::vocab_size, seed++);
        const auto types = random_types(batch * length, seed++);
        const auto type_view = view_of(types, batch);
        const auto logits = model->forward(view_of(ids, batch), memory, &type_view);
        for (index_t b = 0; b < batch; ++b) {
            const auto row_types = row_of(types, b, length);
            INFO("segment of ", length, ", row ", b);
            check_rows(logits, b * length,
                       refs[b].forward(row_of(ids, b, length), &row_types, nullptr, nullptr, 0));
        }
    }
}

/// perm[i][j] = 1 unless j comes before i in a random factorisation order; the last `targets`
/// of the order are predicted, one mapping row mixing two positions.
template <class C>
void check_two_streams(index_t first_length, index_t length, index_t targets) {
    test::recording_filler filler;
    auto model = std::make_unique<xlnet<C>>();
    model->visit_parameters(filler, "");
    constexpr index_t batch = 2;
    auto memory = model->new_memory(batch);
    std::vector<reference_xlnet<C>> refs(batch, reference_xlnet<C>(filler.tensors));
    const auto first = test::random_tokens(batch * first_length, C::vocab_size, 21);
    (void)model->forward(view_of(first, batch), memory);
    for (index_t b = 0; b < batch; ++b) {
        (void)refs[b].forward(row_of(first, b, first_length), nullptr, nullptr, nullptr, 0);
    }
    const auto ids = test::random_tokens(batch * length, C::vocab_size, 22);
    const auto types = random_types(batch * length, 23);
    std::vector<float> perm(batch * length * length);
    std::vector<float> mapping(batch * targets * length, 0.0f);
    std::mt19937 rng(24);
    for (index_t b = 0; b < batch; ++b) {
        std::vector<index_t> order(length);
        std::iota(order.begin(), order.end(), index_t{0});
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<index_t> rank(length);
        for (index_t r = 0; r < length; ++r) {
            rank[order[r]] = r;
        }
        for (index_t i = 0; i < length; ++i) {
            for (index_t j = 0; j < length; ++j) {
                perm[(b * length + i) * length + j] = rank[j] < rank[i] ? 0.0f : 1.0f;
            }
        }
        for (index_t m = 0; m < targets; ++m) {
            mapping[(b * targets + m) * length + order[length - targets + m]] = 1.0f;
        }
        // The first target also reads a little of another position.
        mapping[(b * targets) * length + order[0]] = 0.25f;
    }
    using dense = tensor_view<const float, shape<dyn, dyn, dyn>>;
    const auto type_view = view_of(types, batch);
    const auto logits = model->forward_two_stream(
        view_of(ids, batch), dense(perm.data(), shape<dyn, dyn, dyn>(batch, length, length)),
        dense(mapping.data(), shape<dyn, dyn, dyn>(batch, targets, length)), memory, &type_view);
    REQUIRE(logits.rows() == batch * targets);
    for (index_t b = 0; b < batch; ++b) {
        const auto row_types = row_of(types, b, length);
        const auto row_perm = row_of(perm, b, length * length);
        const auto row_map = row_of(mapping, b, targets * length);
        INFO("row ", b);
        check_rows(
            logits, b * targets,
            refs[b].forward(row_of(ids, b, length), &row_types, &row_perm, &row_map, targets));
    }
    // The two-stream call cached this segment too: a third segment sees both.
    const auto third = test::random_tokens(batch * 3, C::vocab_size, 25);
    const auto after = model->forward(view_of(third, batch), memory);
    for (index_t b = 0; b < batch; ++b) {
        check_rows(after, b * 3,
                   refs[b].forward(row_of(third, b, 3), nullptr, nullptr, nullptr, 0));
    }
}

} // namespace

TEST_CASE("xlnet content stream matches XLNetLMHeadModel written out, clamped, short memory") {
    check_content_stream<xlnet_clamped>({5, 7, 3});
}

TEST_CASE("xlnet content stream matches XLNetLMHeadModel written out, unbounded memory") {
    check_content_stream<xlnet_unbounded>({4, 70}); // 70: two query blocks
}

TEST_CASE("xlnet two streams under a random permutation match the definition") {
    check_two_streams<xlnet_clamped>(6, 9, 3);
    check_two_streams<xlnet_unbounded>(5, 7, 2);
    check_two_streams<xlnet_clamped>(3, 75, 4); // targets spread over two query blocks
}

TEST_CASE("xlnet: padding hides keys from both streams, a padded token still sees itself") {
    using C = xlnet_clamped;
    test::recording_filler filler;
    auto model = std::make_unique<xlnet<C>>();
    model->visit_parameters(filler, "");
    constexpr index_t batch = 2, length = 7, targets = 2;
    const auto ids = test::random_tokens(batch * length, C::vocab_size, 31);
    std::vector<std::int32_t> pad(batch * length, 1);
    pad[length + 5] = pad[length + 6] = 0; // row 1 ends in two pads
    pad[2] = 0;                            // and row 0 has one inside
    std::vector<float> perm(batch * length * length, 0.0f);
    std::vector<float> mapping(batch * targets * length, 0.0f);
    for (index_t b = 0; b < batch; ++b) {
        for (index_t i = 0; i < length; ++i) {
            perm[(b * length + i) * length + 3] = 1.0f;                 // nobody sees token 3 ...
            perm[(b * length + i) * length + 4] = i == 3 ? 0.0f : 1.0f; // ... nor 4, but 3
        }
        mapping[(b * targets + 0) * length + 3] = 1.0f;
        mapping[(b * targets + 1) * length + 4] = 1.0f;
    }
    const auto pad_view = view_of(pad, batch);
    using dense = tensor_view<const float, shape<dyn, dyn, dyn>>;
    auto memory = model->new_memory(batch);
    const auto content = model->forward(view_of(ids, batch), memory, nullptr, &pad_view);
    auto fresh = model->new_memory(batch);
    const auto two = model->forward_two_stream(
        view_of(ids, batch), dense(perm.data(), shape<dyn, dyn, dyn>(batch, length, length)),
        dense(mapping.data(), shape<dyn, dyn, dyn>(batch, targets, length)), fresh, nullptr,
        &pad_view);
    for (index_t b = 0; b < batch; ++b) {
        const auto row_pad = row_of(pad, b, length);
        const auto row_perm = row_of(perm, b, length * length);
        const auto row_map = row_of(mapping, b, targets * length);
        reference_xlnet<C> ref(filler.tensors);
        INFO("row ", b);
        check_rows(content, b * length,
                   ref.forward(row_of(ids, b, length), nullptr, nullptr, nullptr, 0, &row_pad));
        reference_xlnet<C> ref2(filler.tensors);
        check_rows(
            two, b * targets,
            ref2.forward(row_of(ids, b, length), nullptr, &row_perm, &row_map, targets, &row_pad));
    }
}

TEST_CASE("xlnet: batch rows do not see each other") {
    const auto model = test::random_model<xlnet<xlnet_clamped>>();
    const auto ids = test::random_tokens(3 * 5, xlnet_clamped::vocab_size, 8);
    auto memory = model->new_memory(3);
    const auto together = model->forward(view_of(ids, 3), memory);
    for (index_t b = 0; b < 3; ++b) {
        auto alone_memory = model->new_memory(1);
        const auto alone = model->forward(view_of(row_of(ids, b, 5), 1), alone_memory);
        CHECK(test::max_diff({alone.data(), alone.size()},
                             {together[b * 5].data(), 5 * xlnet_clamped::vocab_size}) < 1e-5);
    }
}

TEST_CASE("xlnet: mismatched perm_mask and target_mapping are refused") {
    const auto model = test::random_model<xlnet<xlnet_clamped>>();
    const auto ids = test::random_tokens(2 * 5, xlnet_clamped::vocab_size, 8);
    auto memory = model->new_memory(2);
    std::vector<float> perm(2 * 4 * 4, 0.0f);
    std::vector<float> mapping(2 * 1 * 5, 0.0f);
    using dense = tensor_view<const float, shape<dyn, dyn, dyn>>;
    CHECK_THROWS_AS((void)model->forward_two_stream(
                        view_of(ids, 2), dense(perm.data(), shape<dyn, dyn, dyn>(2, 4, 4)),
                        dense(mapping.data(), shape<dyn, dyn, dyn>(2, 1, 5)), memory),
                    shape_error);
}
