// Decoder families whose attention differs per layer or per token, at sizes unlike the shipped
// cases, with random weights: GPT-Neo's local layers and Mixtral's sliding window see only their
// window, GPT-3's sparse layers equal a composition of reference_attention with the pattern
// masks, experts alternate with dense layers, LaMDA's T5 buckets, and PaLM as a spec.
#include <ctt/attention/reference_attention.hpp>
#include <ctt/io/parameter_loader.hpp>
#include <ctt/kernels/reference/activations.hpp>
#include <ctt/models/cohere.hpp>
#include <ctt/models/gpt3.hpp>
#include <ctt/models/gpt_neo.hpp>
#include <ctt/models/lamda.hpp>
#include <ctt/models/mixtral.hpp>
#include <ctt/models/palm.hpp>
#include <ctt/models/qwen3_moe.hpp>

#include <doctest/doctest.h>

#include <map>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

struct base_sizes {
    static constexpr index_t vocab_size = 53;
    static constexpr index_t max_positions = 40;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
};

// GPT-Neo with every layer local (window 3): position p sees tokens >= p - 2 per layer.
struct neo_local : base_sizes {
    static constexpr index_t hidden_size = 36;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 40;
    static constexpr index_t num_layers = 2;
    static constexpr index_t layer_windows[] = {3, 3};
    static constexpr float attention_scale = 1.0f;
};

// Mixtral with 3 experts, top-1, 6 heads over 2 KV heads, a sliding window of 4.
struct mixtral_window : base_sizes {
    static constexpr index_t hidden_size = 48;
    static constexpr index_t num_heads = 6;
    static constexpr index_t num_kv_heads = 2;
    static constexpr index_t intermediate_size = 24;
    static constexpr index_t num_layers = 2;
    static constexpr activation hidden_act = activation::silu;
    static constexpr index_t num_experts = 3;
    static constexpr index_t experts_per_token = 1;
    static constexpr index_t sliding_window = 4;
};

// Qwen3-MoE with experts in layers 1 and 3 of 4, top-3 of 5, head_dim 10 != hidden / heads.
struct qwen3_moe_alternating : base_sizes {
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 3;
    static constexpr index_t num_kv_heads = 1;
    static constexpr index_t head_dim = 10;
    static constexpr index_t intermediate_size = 32;
    static constexpr index_t num_layers = 4;
    static constexpr index_t num_experts = 5;
    static constexpr index_t experts_per_token = 3;
    static constexpr index_t moe_intermediate_size = 12;
    static constexpr index_t moe_every = 2;
    static constexpr bool norm_topk_prob = false;
};

// LaMDA with 3 heads of 8, 8 buckets up to distance 6, ReLU feed-forward.
struct lamda_dense : base_sizes {
    static constexpr index_t hidden_size = 20;
    static constexpr index_t num_heads = 3;
    static constexpr index_t head_dim = 8;
    static constexpr index_t intermediate_size = 28;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 0;
    static constexpr activation hidden_act = activation::relu;
    static constexpr auto ffn = ffn_kind::dense;
    static constexpr index_t num_buckets = 8;
    static constexpr index_t max_distance = 6;
    static constexpr float attention_scale = 1.0f;
};

// GPT-3 with 4 layers: dense, strided (stride 3), dense, strided.
struct gpt3_strided : base_sizes {
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 30;
    static constexpr index_t num_layers = 4;
    static constexpr auto sparse_pattern = ctt::sparse_pattern::strided;
    static constexpr index_t sparse_stride = 3;
};

// PaLM: multi-query, SwiGLU, 4 heads of 6.
struct palm_mqa : base_sizes {
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 4;
    static constexpr index_t num_kv_heads = 1;
    static constexpr index_t intermediate_size = 20;
    static constexpr index_t num_layers = 2;
    static constexpr activation hidden_act = activation::silu;
};
// The same model as a Cohere config: PaLM is Cohere's layout with half-split rotary.
struct palm_as_cohere : palm_mqa {
    static constexpr auto position = attention_position::rotary_half_split;
};

template <class Model>
tensor<float, shape<dyn, Model::vocab>> logits_of(const Model& m,
                                                  const std::vector<std::int32_t>& tokens) {
    auto session = m.new_session(tokens.size());
    tensor<float, shape<dyn, Model::vocab>> out(tokens.size());
    m.step(session, tokens, out.view());
    return out;
}

/// Records every parameter a model visits, by name (to rebuild its computation by hand).
struct recorder {
    std::map<std::string, std::vector<float>> tensors;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        std::vector<float>& out = tensors[name];
        if constexpr (S::rank == 1) {
            for (index_t i = 0; i < v.size(); ++i) {
                out.push_back(v[i]);
            }
        } else if constexpr (S::rank > 2) {
            REQUIRE(v.is_contiguous());
            out.assign(v.data(), v.data() + v.size());
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

/// GPT-3 computed by hand from its GPT-2 names: scalar layers in double, and each layer's
/// attention through `reference_attention` with the mask that layer's pattern names.
std::vector<double> gpt3_by_hand(const recorder& r, const std::vector<std::int32_t>& ids) {
    using C = gpt3_strided;
    constexpr index_t H = C::hidden_size, NH = C::num_heads, D = H / NH, F = C::intermediate_size;
    const index_t L = ids.size();
    const auto w = [&](const std::string& n) -> const std::vector<float>& {
        return r.tensors.at("transformer." + n);
    };
    std::vector<double> x(L * H);
    for (index_t t = 0; t < L; ++t) {
        for (index_t c = 0; c < H; ++c) {
            x[t * H + c] = w("wte.weight")[ids[t] * H + c] + w("wpe.weight")[t * H + c];
        }
    }
    const auto norm = [&](const std::vector<double>& in, const std::string& n) {
        std::vector<double> out(in.size());
        for (index_t t = 0; t < L; ++t) {
            double mean = 0, var = 0;
            for (index_t c = 0; c < H; ++c)
                mean += in[t * H + c] / H;
            for (index_t c = 0; c < H; ++c)
                var += (in[t * H + c] - mean) * (in[t * H + c] - mean) / H;
            for (index_t c = 0; c < H; ++c) {
                out[t * H + c] =
                    (in[t * H + c] - mean) / std::sqrt(var + C::norm_eps) * w(n + ".weight")[c] +
                    w(n + ".bias")[c];
            }
        }
        return out;
    };
    // Conv1D: y = x W + b with W [in, out].
    const auto conv = [&](const std::vector<double>& in, index_t n_in, index_t n_out,
                          const std::string& n) {
        std::vector<double> out(L * n_out);
        for (index_t t = 0; t < L; ++t) {
            for (index_t o = 0; o < n_out; ++o) {
                double s = w(n + ".bias")[o];
                for (index_t i = 0; i < n_in; ++i)
                    s += in[t * n_in + i] * w(n + ".weight")[i * n_out + o];
                out[t * n_out + o] = s;
            }
        }
        return out;
    };
    for (index_t layer = 0; layer < C::num_layers; ++layer) {
        const std::string p = "h." + std::to_string(layer) + ".";
        const auto qkv = conv(norm(x, p + "ln_1"), H, 3 * H, p + "attn.c_attn");
        std::vector<float> qkv_f(qkv.begin(), qkv.end());
        std::vector<float> ctx(L * H);
        const layer_sparse_mask mask = families::gpt3::layer_mask<C>(layer);
        for (index_t h = 0; h < NH; ++h) {
            const auto head = [&](index_t offset) {
                return tensor_view<const float, shape<dyn, D>>(qkv_f.data() + offset + h * D,
                                                               shape<dyn, D>(L),
                                                               std::array<index_t, 2>{3 * H, 1});
            };
            reference_attention(head(0), head(H), head(2 * H),
                                tensor_view<float, shape<dyn, D>>(ctx.data() + h * D,
                                                                  shape<dyn, D>(L),
                                                                  std::array<index_t, 2>{H, 1}),
                                mask);
        }
        const auto attn =
            conv(std::vector<double>(ctx.begin(), ctx.end()), H, H, p + "attn.c_proj");
        for (index_t i = 0; i < L * H; ++i)
            x[i] += attn[i];
        auto f = conv(norm(x, p + "ln_2"), H, F, p + "mlp.c_fc");
        for (auto& v : f)
            v = kernels::reference::activate(C::hidden_act, v);
        const auto down = conv(f, F, H, p + "mlp.c_proj");
        for (index_t i = 0; i < L * H; ++i)
            x[i] += down[i];
    }
    x = norm(x, "ln_f");
    std::vector<double> logits(L * C::vocab_size);
    for (index_t t = 0; t < L; ++t) {
        for (index_t v = 0; v < C::vocab_size; ++v) {
            double s = 0;
            for (index_t c = 0; c < H; ++c)
                s += x[t * H + c] * w("wte.weight")[v * H + c];
            logits[t * C::vocab_size + v] = s;
        }
    }
    return logits;
}

} // namespace

TEST_CASE("gpt_neo local layers see only their window") {
    const auto model = test::random_model<gpt_neo<neo_local>>();
    test::check_incremental_decoding(*model, 19, 7);
    auto tokens = test::random_tokens(12, 53, 5);
    const auto before = logits_of(*model, tokens);
    tokens[0] = (tokens[0] + 1) % 53; // two layers of window 3 reach back 4 tokens
    tokens[2] = (tokens[2] + 1) % 53;
    const auto after = logits_of(*model, tokens);
    CHECK(test::max_diff({before[7].data(), 53 * 5}, {after[7].data(), 53 * 5}) == 0.0);
    CHECK(test::max_diff({before[6].data(), 53}, {after[6].data(), 53}) > 1e-4);
}

TEST_CASE("mixtral with a sliding window and top-1 of 3 experts") {
    const auto model = test::random_model<mixtral<mixtral_window>>();
    test::check_incremental_decoding(*model, 23, 3);
    test::check_generation(*model);
    auto tokens = test::random_tokens(14, 53, 8);
    const auto before = logits_of(*model, tokens);
    tokens[1] = (tokens[1] + 1) % 53; // two layers of window 4 reach back 6 tokens
    const auto after = logits_of(*model, tokens);
    CHECK(test::max_diff({before[8].data(), 53 * 6}, {after[8].data(), 53 * 6}) == 0.0);
    CHECK(test::max_diff({before[7].data(), 53}, {after[7].data(), 53}) > 1e-4);
}

TEST_CASE("qwen3_moe: experts every other layer, q/k norms, head_dim apart from the width") {
    using model_type = qwen3_moe<qwen3_moe_alternating>;
    const auto model = test::random_model<model_type>();
    const auto& layers = model->layers();
    CHECK(!layers[0].uses_experts);
    CHECK(layers[1].uses_experts);
    CHECK(!layers[2].uses_experts);
    CHECK(layers[3].uses_experts);
    recorder r;
    model->visit_parameters(r, "");
    CHECK(r.tensors.contains("model.layers.1.mlp.experts.gate_up_proj"));
    CHECK(r.tensors.contains("model.layers.2.mlp.gate_proj.weight"));
    CHECK(!r.tensors.contains("model.layers.2.mlp.experts.gate_up_proj"));
    CHECK(r.tensors.at("model.layers.3.self_attn.q_norm.weight").size() == 10);
    test::check_incremental_decoding(*model, 21, 2);
}

TEST_CASE("lamda: T5 buckets in a decoder-only stack; the bias table needs loading") {
    auto fresh = std::make_unique<lamda<lamda_dense>>();
    auto session = fresh->new_session(4);
    tensor<float, shape<dyn, 53>> logits(2);
    const std::vector<std::int32_t> two = {1, 2};
    CHECK_THROWS_AS(fresh->step(session, two, logits.view()), value_error);
    const auto model = test::random_model<lamda<lamda_dense>>();
    test::check_incremental_decoding(*model, 45, 11); // past max_distance and the buckets
}

TEST_CASE("gpt3: sparse layers equal reference attention with the pattern masks") {
    const auto model = test::random_model<gpt3<gpt3_strided>>();
    recorder r;
    model->visit_parameters(r, "");
    const auto tokens = test::random_tokens(17, 53, 21);
    const auto ours = logits_of(*model, tokens);
    const auto ref = gpt3_by_hand(r, tokens);
    std::vector<float> ref_f(ref.begin(), ref.end());
    CHECK(test::max_diff({ours.data(), ours.size()}, ref_f) < 1e-4);
    // The sparse layers matter: the same weights with every layer dense differ.
    CHECK(families::gpt3::layer_mask<gpt3_strided>(1).pattern == sparse_pattern::strided);
    CHECK(families::gpt3::layer_mask<gpt3_strided>(2).pattern == sparse_pattern::dense);
    const auto dense = [&] {
        auto m = std::make_unique<gpt2<gpt3_strided>>();
        test::random_filler filler;
        m->visit_parameters(filler, "");
        return m;
    }();
    const auto dense_logits = logits_of(*dense, tokens);
    CHECK(test::max_diff({ours.data(), ours.size()}, {dense_logits.data(), dense_logits.size()}) >
          1e-4);
    test::check_incremental_decoding(*model, 25, 6);
}

TEST_CASE("palm is Cohere's block with half-split rotary and no logit scale") {
    const auto palm_model = test::random_model<palm<palm_mqa>>();
    const auto cohere_model = test::random_model<cohere<palm_as_cohere>>(); // same seed, names
    const auto tokens = test::random_tokens(15, 53, 4);
    const auto a = logits_of(*palm_model, tokens);
    const auto b = logits_of(*cohere_model, tokens);
    CHECK(test::max_diff({a.data(), a.size()}, {b.data(), b.size()}) == 0.0);
    test::check_incremental_decoding(*palm_model, 15, 3);
}
