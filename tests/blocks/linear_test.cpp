// linear: packed once (load_parameters, pack_weights) against its checkpoint layout: both weight
// layouts, with and without bias, accumulating or not; the packed layer gives every row the
// same bits alone or in a batch; packing frees the checkpoint layout; a model packed by
// pack_weights computes what it computed before.
#include <ctt/blocks/linear.hpp>
#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors_writer.hpp>
#include <ctt/models/llama.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

template <class Layer>
void fill(Layer& l, unsigned seed) {
    test::random_filler f;
    f.rng.seed(seed);
    l.visit_parameters(f, "layer.");
}

template <index_t In, index_t Out, bool Bias, weight_layout Layout>
void check_layer() {
    CAPTURE(In);
    CAPTURE(Out);
    CAPTURE(Bias);
    CAPTURE(Layout == weight_layout::in_out);
    linear<In, Out, Bias, Layout> plain;
    fill(plain, 3);
    auto packed = plain;
    packed.pack();
    CHECK(packed.is_packed());
    CHECK(packed.weight.data() == nullptr);
    CHECK_FALSE(plain.is_packed());
    constexpr index_t rows = 9;
    tensor<float, shape<dyn, In>> x(rows);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (index_t i = 0; i < x.size(); ++i) {
        x.data()[i] = normal(rng);
    }
    for (const bool accumulate : {false, true}) {
        tensor<float, shape<dyn, Out>> a(rows), b(rows);
        for (index_t i = 0; i < a.size(); ++i) {
            a.data()[i] = b.data()[i] = 0.25f * static_cast<float>(i % 7);
        }
        plain.forward(tensor_view<const float, shape<dyn, In>>(x.view()), a.view(), accumulate);
        packed.forward(tensor_view<const float, shape<dyn, In>>(x.view()), b.view(), accumulate);
        // Nine rows go through the same loop nest packed or not: the same bits.
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        // One row alone gives its row's bits.
        tensor<float, shape<dyn, Out>> one(1);
        for (index_t c = 0; c < Out; ++c) {
            one(0, c) = 0.25f * static_cast<float>((4 * Out + c) % 7);
        }
        packed.forward(tensor_view<const float, shape<dyn, In>>(x.view().rows(4, 1)), one.view(),
                       accumulate);
        CHECK(std::memcmp(one.data(), b[4].data(), Out * sizeof(float)) == 0);
    }
}

struct small_llama {
    static constexpr index_t vocab_size = 40;
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 3;
    static constexpr index_t num_kv_heads = 1;
    static constexpr index_t intermediate_size = 36;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 32;
    static constexpr activation hidden_act = activation::silu;
    static constexpr float norm_eps = 1e-5f;
};

} // namespace

TEST_CASE("linear packed once: the same bits as its checkpoint layout, any row count") {
    check_layer<33, 70, true, weight_layout::out_in>();
    check_layer<33, 70, false, weight_layout::out_in>();
    check_layer<257, 31, true, weight_layout::in_out>();
    check_layer<300, 129, false, weight_layout::in_out>();
    check_layer<1, 1, true, weight_layout::out_in>();
}

TEST_CASE("pack_weights: a packed model computes what it computed before") {
    using model_type = llama<small_llama>;
    auto model = test::random_model<model_type>();
    CHECK_FALSE(model->layers()[0].attention.out.is_packed());
    const auto tokens = test::random_tokens(11, model_type::vocab, 9);
    tensor<float, shape<dyn, model_type::vocab>> before(11), after(11);
    auto s1 = model->new_session(11);
    model->step(s1, tokens, before.view());
    pack_weights(*model);
    CHECK(model->layers()[0].attention.out.is_packed());
    CHECK(model->layers()[1].attention.projection.q.is_packed());
    auto s2 = model->new_session(11);
    model->step(s2, tokens, after.view());
    // Eleven rows through the same loop nest: the same bits.
    CHECK(std::memcmp(before.data(), after.data(), before.size() * sizeof(float)) == 0);
    // Decoding one token at a time (one-row products) agrees with the whole sequence.
    auto s3 = model->new_session(11);
    tensor<float, shape<dyn, model_type::vocab>> steps(11);
    for (index_t t = 0; t < 11; ++t) {
        model->step(s3, std::span(tokens).subspan(t, 1), steps.view().rows(t, 1));
    }
    CHECK(test::max_diff({after.data(), after.size()}, {steps.data(), steps.size()}) < 2e-4);
    // The last position's logits alone are the last row of all of them.
    auto s4 = model->new_session(11);
    tensor<float, shape<dyn, model_type::vocab>> last(1);
    model->step(s4, tokens, last.view());
    CHECK(std::memcmp(last.data(), after[10].data(), model_type::vocab * sizeof(float)) == 0);
}

namespace {

/// A bf16 or f16 layer computes, bit for bit, what a float layer holding its stored weights
/// computes; an int8 layer (activations quantised per group of 32) is within the activations'
/// quantisation error of it. Either way each row alone gives its bits of the batch.
template <index_t In, index_t Out, bool Bias, weight_layout Layout>
void check_reduced(weight_type type) {
    CAPTURE(In);
    CAPTURE(Out);
    CAPTURE(to_string(type));
    linear<In, Out, Bias, Layout> layer;
    fill(layer, 7);
    auto stored = layer;
    layer.pack(type);
    CHECK(layer.packed.type() == type);
    CHECK(layer.packed.bytes() < index_t{4} * In * ((Out + 31) / 32 * 32) + 64);
    const auto w = layer.packed.widened(); // [In, Out]
    for (index_t i = 0; i < In; ++i) {
        for (index_t o = 0; o < Out; ++o) {
            if constexpr (Layout == weight_layout::out_in) {
                stored.weight(o, i) = w[i * Out + o];
            } else {
                stored.weight(i, o) = w[i * Out + o];
            }
        }
    }
    stored.pack();
    constexpr index_t rows = 9;
    tensor<float, shape<dyn, In>> x(rows);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (index_t i = 0; i < x.size(); ++i) {
        x.data()[i] = normal(rng);
    }
    tensor<float, shape<dyn, Out>> a(rows), b(rows), one(1);
    layer.forward(tensor_view<const float, shape<dyn, In>>(x.view()), a.view());
    stored.forward(tensor_view<const float, shape<dyn, In>>(x.view()), b.view());
    if (type == weight_type::int8) {
        // |x - q d| <= d / 2 with d = max|x| / 127 over a group; |x| < 6 here.
        double worst = 0;
        for (index_t r = 0; r < rows; ++r) {
            for (index_t o = 0; o < Out; ++o) {
                double bound = 1e-5;
                for (index_t i = 0; i < In; ++i) {
                    double amax = 0;
                    for (index_t e = i / 32 * 32; e < std::min(In, i / 32 * 32 + 32); ++e) {
                        amax = std::max(amax, static_cast<double>(std::fabs(x.data()[r * In + e])));
                    }
                    bound += std::fabs(w[i * Out + o]) * amax / 254.0 * 1.001;
                }
                worst = std::max(worst,
                                 std::fabs(a.data()[r * Out + o] - b.data()[r * Out + o]) / bound);
            }
        }
        CHECK(worst <= 1.0);
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0);
    } else {
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
    layer.forward(tensor_view<const float, shape<dyn, In>>(x.view().rows(2, 1)), one.view());
    CHECK(std::memcmp(one.data(), a[2].data(), Out * sizeof(float)) == 0);
}

struct small_llama_int8 : small_llama {
    static constexpr weight_type weight_storage = weight_type::int8;
};

/// Two layers either side of `in_place_min_elements`, as a model `load_parameters` reads: 2^20
/// weights in GPT-2's `[in, out]` layout, then 1024 fewer in `torch.nn.Linear`'s.
struct two_layers {
    linear<1024, 1024, true, weight_layout::in_out> large;
    linear<1024, 1023, false, weight_layout::out_in> small;
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        large.visit_parameters(v, prefix + "large.");
        small.visit_parameters(v, prefix + "small.");
    }
};
static_assert(1024 * 1024 == in_place_min_elements);

/// Writes each visited parameter into a checkpoint.
struct checkpoint_writer {
    safetensors_writer& out;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        out.add(name, tensor_view<const float, S>(v));
    }
    void ignore(const std::string&) {}
};

} // namespace

TEST_CASE("linear in bf16, f16 and int8: the float product of the weights it stores") {
    for (const auto type : {weight_type::bf16, weight_type::f16, weight_type::int8}) {
        check_reduced<33, 70, true, weight_layout::out_in>(type);
        check_reduced<257, 31, false, weight_layout::in_out>(type);
        check_reduced<100, 129, true, weight_layout::out_in>(type);
    }
}

TEST_CASE("a model's weight_storage: the type its layers are packed in, close to f32") {
    using f32_model = llama<small_llama>;
    using int8_model = llama<small_llama_int8>;
    static_assert(default_weights<f32_model> == weight_type::f32);
    static_assert(default_weights<int8_model> == weight_type::int8);
    auto a = test::random_model<f32_model>();
    auto b = test::random_model<int8_model>();
    pack_weights(*a);
    pack_weights(*b);
    CHECK(a->layers()[0].attention.out.packed.type() == weight_type::f32);
    CHECK(b->layers()[0].attention.out.packed.type() == weight_type::int8);
    CHECK(b->layers()[1].attention.projection.k.packed.type() == weight_type::int8);
    const auto tokens = test::random_tokens(11, f32_model::vocab, 9);
    tensor<float, shape<dyn, f32_model::vocab>> la(11), lb(11);
    auto sa = a->new_session(11);
    auto sb = b->new_session(11);
    a->step(sa, tokens, la.view());
    b->step(sb, tokens, lb.view());
    // The same random weights (one seed), quantised (weights and activations): close, relative
    // to the logits' size, and not equal.
    const double d = test::max_diff({la.data(), la.size()}, {lb.data(), lb.size()});
    double scale = 1;
    for (index_t i = 0; i < la.size(); ++i) {
        scale = std::max(scale, static_cast<double>(std::fabs(la.data()[i])));
    }
    MESSAGE("int8 max |dlogit| " << d << " of max |logit| " << scale);
    CHECK(d > 0);
    CHECK(d < 0.05 * scale); // the conformance cases allow int8 0.1 of max(1, max|logit|)
}

TEST_CASE("load_parameters binds in place from 2^20 weights by default, any size with "
          "in_place_all, none packed: the same bits every way") {
    auto source = std::make_unique<two_layers>();
    fill(*source, 11);
    safetensors_writer w;
    checkpoint_writer writer{w};
    source->visit_parameters(writer, "");
    const auto file = safetensors_file::from_bytes(w.bytes(), "two layers");
    constexpr std::size_t large = 1024 * 1024 * sizeof(float);
    constexpr std::size_t small = 1024 * 1023 * sizeof(float);
    tensor<float, shape<dyn, 1024>> x(3);
    for (index_t i = 0; i < x.size(); ++i) {
        x.data()[i] = 0.01f * static_cast<float>(i % 101) - 0.5f;
    }
    std::vector<float> expected;
    struct way {
        weight_binding binding;
        std::size_t in_place_bytes;
    };
    for (const way w : {way{weight_binding::packed, 0}, way{weight_binding::in_place, large},
                        way{weight_binding::in_place_all, large + small}}) {
        const weight_binding binding = w.binding;
        const std::size_t bytes = w.in_place_bytes;
        CAPTURE(static_cast<int>(binding));
        auto m = std::make_unique<two_layers>();
        const auto summary = load_parameters(*m, file, weight_type::f32, binding);
        CHECK(summary.tensors == 3);
        CHECK(summary.in_place_bytes == bytes);
        CHECK(m->large.packed.in_place() == (bytes != 0));
        CHECK(m->small.packed.in_place() == (bytes == large + small));
        // Three rows, then the last alone (the one-row product), through both layers.
        using in_rows = tensor_view<const float, shape<dyn, 1024>>;
        tensor<float, shape<dyn, 1024>> h(3), h1(1);
        tensor<float, shape<dyn, 1023>> y(3), y1(1);
        m->large.forward(in_rows(x.view()), h.view());
        m->small.forward(in_rows(h.view()), y.view());
        m->large.forward(in_rows(x.view().rows(2, 1)), h1.view());
        m->small.forward(in_rows(h1.view()), y1.view());
        std::vector<float> got(y.data(), y.data() + y.size());
        got.insert(got.end(), y1.data(), y1.data() + y1.size());
        if (expected.empty()) {
            expected = got;
        }
        CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
    }
}
