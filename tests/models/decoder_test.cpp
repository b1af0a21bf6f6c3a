#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors_writer.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <string>

#include "../support/golden_case.hpp"
#include "../support/tiny_models.hpp"

namespace {

using ctt::test::tiny_gpt2;
using ctt::test::tiny_llama;

template <class T>
std::span<const T> all(const std::vector<T>& v) {
    return {v.data(), v.size()};
}

template <class Model>
void check_decoder_case(const char* name) {
    using namespace ctt;
    const auto c = test::golden_case::hf(name);
    auto model = std::make_unique<Model>();
    load_parameters(*model, c.model);
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    const auto ref_logits = c.io.load_floats("logits");
    const auto ref_hidden = c.io.load_floats("hidden_states");
    const auto ref_generated = c.io.load_ints("generated_ids");
    const index_t generated_length = ref_generated.size() / batch;
    constexpr index_t V = Model::vocab;
    constexpr index_t H = Model::hidden;
    const index_t layers = ref_hidden.size() / (batch * length * H);
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model->new_session(length);
        tensor<float, shape<dyn, V>> logits(length);
        std::vector<tensor<float, shape<dyn, H>>> hidden;
        model->step(session, prompt, logits.view(), &hidden);
        CHECK(test::within_tolerance({logits.data(), logits.size()},
                                     {ref_logits.data() + b * length * V, length * V}));
        REQUIRE(hidden.size() == layers);
        for (index_t l = 0; l < layers; ++l) {
            CAPTURE(l);
            CHECK(test::within_tolerance(
                {hidden[l].data(), hidden[l].size()},
                {ref_hidden.data() + (l * batch + b) * length * H, length * H}));
        }
        const auto generated = generate(*model, prompt, generated_length - length);
        const std::vector<std::int32_t> expected(ref_generated.begin() + b * generated_length,
                                                 ref_generated.begin() +
                                                     (b + 1) * generated_length);
        CHECK(generated == expected);
    }
}

} // namespace

TEST_CASE("gpt2 reproduces HF GPT2LMHeadModel, greedy generation through the KV cache") {
    check_decoder_case<ctt::gpt2<tiny_gpt2>>("gpt2");
}

TEST_CASE("llama reproduces HF LlamaForCausalLM, greedy generation through the KV cache") {
    check_decoder_case<ctt::llama<tiny_llama>>("llama");
}

namespace {
/// The golden LLaMA, its sessions holding keys and values in bfloat16.
struct tiny_llama_bf16_cache : tiny_llama {
    static constexpr ctt::weight_type kv_cache_storage = ctt::weight_type::bf16;
};
} // namespace

TEST_CASE("llama with a bf16 KV cache: HF's logits within bf16's precision, its greedy ids, and "
          "the prompt at once as token by token") {
    using namespace ctt;
    using model_type = llama<tiny_llama_bf16_cache>;
    static_assert(model_type::session_type::storage == weight_type::bf16);
    static_assert(llama<tiny_llama>::session_type::storage == weight_type::f32);
    constexpr index_t V = model_type::vocab;
    const auto c = test::golden_case::hf("llama");
    auto model = std::make_unique<model_type>();
    load_parameters(*model, c.model);
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    const auto ref_logits = c.io.load_floats("logits");
    const auto ref_generated = c.io.load_ints("generated_ids");
    const index_t generated_length = ref_generated.size() / batch;
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model->new_session(length);
        tensor<float, shape<dyn, V>> logits(length);
        model->step(session, prompt, logits.view());
        const std::span<const float> ref(ref_logits.data() + b * length * V, length * V);
        // Keys and values rounded once (relative error up to 2^-9): the logits move by up to
        // 0.014 here (0.35% of the largest), beyond the f32 tolerance (2e-4).
        const auto report = test::within_tolerance({logits.data(), logits.size()}, ref, 1e-2);
        CHECK_MESSAGE(report, report.message());
        MESSAGE("bf16 KV cache, sequence " << b << ": " << report.message());
        CHECK_FALSE(test::within_tolerance({logits.data(), logits.size()}, ref));

        // Token by token, the decode kernel reads the same rounded keys and values as the
        // prompt's kernel did: only the order of float sums differs.
        auto stepped = model->new_session(length);
        tensor<float, shape<dyn, V>> last(1);
        for (index_t t = 0; t < length; ++t) {
            model->step(stepped, prompt.subspan(t, 1), last.view());
            CAPTURE(t);
            const auto same = test::within_tolerance(
                {last.data(), V}, {logits.data() + t * V, static_cast<std::size_t>(V)}, 1e-5);
            CHECK_MESSAGE(same, same.message());
        }

        const auto generated = generate(*model, prompt, generated_length - length);
        const std::vector<std::int32_t> expected(ref_generated.begin() + b * generated_length,
                                                 ref_generated.begin() +
                                                     (b + 1) * generated_length);
        CHECK(generated == expected);
    }
}

namespace {
/// `model`'s logits for every position of `prompt` at once (the many-row products), then token
/// by token (the one-row products), one after the other.
template <class Model>
std::vector<float> logits_both_ways(const Model& model, std::span<const std::int32_t> prompt) {
    using namespace ctt;
    constexpr index_t V = Model::vocab;
    const index_t length = prompt.size();
    auto session = model.new_session(length);
    tensor<float, shape<dyn, V>> logits(length);
    model.step(session, prompt, logits.view());
    std::vector<float> out(logits.data(), logits.data() + logits.size());
    auto stepped = model.new_session(length);
    tensor<float, shape<dyn, V>> last(1);
    for (index_t t = 0; t < length; ++t) {
        model.step(stepped, prompt.subspan(t, 1), last.view());
        out.insert(out.end(), last.data(), last.data() + V);
    }
    return out;
}

/// `file` with every floating-point tensor stored as `type`, in memory.
ctt::safetensors_file stored_as(const ctt::safetensors_file& file, ctt::dtype type) {
    ctt::safetensors_writer w;
    for (const auto& name : file.names()) {
        w.add(name, file.info(name).shape, file.load_floats(name), type);
    }
    return ctt::safetensors_file::from_bytes(w.bytes(), "golden case as bf16");
}

/// `Model` bound in place gives the packed load's bits, prompt at once and token by token, after
/// the file object is gone, with `projection_elements` read from the file (every projection:
/// `in_place_all`; the default binds none of a golden case's, all under 2^20 elements).
template <class Model>
void check_bound_in_place(const std::string& name, ctt::index_t projection_elements) {
    using namespace ctt;
    const auto c = test::golden_case::hf(name);
    const auto ids = c.io.load_ints("input_ids");
    const std::span<const std::int32_t> prompt(ids.data(), c.dim("S"));
    for (const auto type : {weight_type::f32, weight_type::bf16}) {
        CAPTURE(to_string(type));
        // The checkpoint in the weight type's dtype (the golden one is f32), bound both ways.
        const auto stored = type == weight_type::f32 ? std::optional<safetensors_file>{}
                                                     : stored_as(c.model, dtype::bf16);
        const safetensors_file& source = stored ? *stored : c.model;
        auto packed = std::make_unique<Model>();
        const auto packed_summary = load_parameters(*packed, source, type, weight_binding::packed);
        CHECK(packed_summary.in_place_bytes == 0);
        auto in_place = std::make_unique<Model>();
        {
            const auto file = type == weight_type::f32
                                  ? safetensors_file::open(c.dir / "model.safetensors")
                                  : stored_as(c.model, dtype::bf16);
            CHECK(load_parameters(*std::make_unique<Model>(), file, type).in_place_bytes == 0);
            const auto summary =
                load_parameters(*in_place, file, type, weight_binding::in_place_all);
            CHECK(summary.tensors == packed_summary.tensors);
            CHECK(summary.in_place_bytes == projection_elements * element_bytes(type));
        } // the file object is gone: the model holds its bytes
        const auto expected = logits_both_ways(*packed, prompt);
        const auto got = logits_both_ways(*in_place, prompt);
        REQUIRE(got.size() == expected.size());
        CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
        CHECK(generate(*in_place, prompt, 6) == generate(*packed, prompt, 6));
    }
}
} // namespace

TEST_CASE("gpt2 bound in place: its [in, out] Conv1D weights read from the file's bytes, the "
          "packed load's bits") {
    // c_attn, c_proj, c_fc and mlp.c_proj per layer; the LM head is the tied embedding.
    constexpr ctt::index_t H = tiny_gpt2::hidden_size;
    constexpr ctt::index_t F = tiny_gpt2::intermediate_size;
    check_bound_in_place<ctt::gpt2<tiny_gpt2>>("gpt2",
                                               tiny_gpt2::num_layers * (4 * H * H + 2 * H * F));
}

TEST_CASE("llama bound in place (zero-copy): the packed load's bits, every "
          "projection read from the file's bytes, which outlive the file object") {
    using namespace ctt;
    using model_type = llama<tiny_llama>;
    const auto c = test::golden_case::hf("llama");
    // Every projection: q, k, v, o, gate, up, down per layer and the untied LM head.
    constexpr index_t H = tiny_llama::hidden_size;
    constexpr index_t kv = tiny_llama::num_kv_heads * tiny_llama::head_dim;
    constexpr index_t F = tiny_llama::intermediate_size;
    check_bound_in_place<model_type>("llama",
                                     tiny_llama::num_layers * (2 * H * H + 2 * kv * H + 3 * H * F) +
                                         tiny_llama::vocab_size * H);
    // In place only where the file stores the weight type's own dtype: bf16 weights from an f32
    // file are packed (converted), as are int8 ones; and never from a caller's buffer
    // (`from_buffer`), whose lifetime is the caller's.
    const auto none_in_place = [](const safetensors_file& file, weight_type type) {
        auto model = std::make_unique<model_type>();
        return load_parameters(*model, file, type, weight_binding::in_place_all).in_place_bytes ==
               0;
    };
    CHECK(none_in_place(c.model, weight_type::bf16));
    CHECK(none_in_place(c.model, weight_type::int8));
    safetensors_writer w;
    for (const auto& name : c.model.names()) {
        w.add(name, c.model.info(name).shape, c.model.load_floats(name));
    }
    const auto buffer = w.bytes();
    const auto borrowed = safetensors_file::from_buffer(buffer);
    CHECK(borrowed.keep_alive() == nullptr);
    CHECK(c.model.keep_alive() != nullptr);
    CHECK(none_in_place(borrowed, weight_type::f32));
}
