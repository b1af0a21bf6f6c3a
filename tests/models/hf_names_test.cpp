// HF names as data: patterns with the layer index, alternatives, a base prefix accepted with
// or without, names outside the base; and a checkpoint in another naming (a bare base model,
// experts stored one tensor per projection) loading into the same model with the same numbers.
#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/hf_names.hpp>
#include <ctt/models/qwen3_moe.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <set>

#include "../support/golden_case.hpp"

namespace {

using namespace ctt;

/// A visitor that knows which names a checkpoint holds, and records what it was asked for.
struct probe {
    std::set<std::string, std::less<>> held;
    std::vector<std::string> bound;
    std::vector<std::string> ignored;
    [[nodiscard]] bool contains(std::string_view name) const { return held.contains(name); }
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S>) {
        bound.push_back(name);
    }
    void ignore(const std::string& name) { ignored.push_back(name); }
};

/// Every tensor of `file` renamed by `rename` (empty: dropped), and `extra` added.
std::vector<std::byte>
rewrite(const safetensors_file& file, const std::function<std::string(const std::string&)>& rename,
        const std::vector<std::pair<
            std::string, std::pair<std::vector<std::uint64_t>, std::vector<float>>>>& extra = {}) {
    nlohmann::json header = nlohmann::json::object();
    std::vector<std::byte> buffer;
    const auto add = [&](const std::string& name, const std::vector<std::uint64_t>& shape,
                         const std::vector<float>& data) {
        const std::size_t begin = buffer.size();
        buffer.resize(begin + data.size() * sizeof(float));
        std::memcpy(buffer.data() + begin, data.data(), data.size() * sizeof(float));
        header[name] = {
            {"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, buffer.size()}}};
    };
    for (const auto& name : file.names()) {
        const std::string to = rename(std::string(name));
        if (!to.empty()) {
            const auto& s = file.info(name).shape;
            add(to, {s.begin(), s.end()}, file.load_floats(name));
        }
    }
    for (const auto& [name, t] : extra) {
        add(name, t.first, t.second);
    }
    const std::string text = header.dump();
    std::vector<std::byte> out(8);
    const std::uint64_t n = text.size();
    std::memcpy(out.data(), &n, 8);
    for (char c : text) {
        out.push_back(static_cast<std::byte>(c));
    }
    out.insert(out.end(), buffer.begin(), buffer.end());
    return out;
}

// The glam case's config (tests/data/hf/glam/config.json), as ctt-hf-config writes it.
struct glam_config {
    static constexpr index_t vocab_size = 256;
    static constexpr index_t hidden_size = 64;
    static constexpr index_t num_heads = 4;
    static constexpr index_t num_kv_heads = 2;
    static constexpr index_t head_dim = 16;
    static constexpr index_t intermediate_size = 128;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 64;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-06f;
    static constexpr double rope_theta = 10000.0;
    static constexpr index_t num_experts = 4;
    static constexpr index_t experts_per_token = 2;
    static constexpr index_t moe_intermediate_size = 64;
    static constexpr index_t moe_every = 2;
    static constexpr bool norm_topk_prob = true;
    static constexpr bool tie_word_embeddings = false;
};
using glam_model = qwen3_moe<glam_config>;

std::vector<float> logits_of(const glam_model& m) {
    const std::vector<std::int32_t> tokens = {5, 17, 42, 7, 99, 12, 200, 3};
    auto session = m.new_session(tokens.size());
    tensor<float, shape<dyn, 256>> out(tokens.size());
    m.step(session, tokens, out.view());
    return {out.begin(), out.end()};
}

} // namespace

TEST_CASE("patterns: layer index, alternatives, base with or without, names outside it") {
    CHECK(detail::expand_name("h.{}.attn", 7) == "h.7.attn");
    CHECK(detail::expand_expert("experts.{e}.w1", 3) == "experts.3.w1");
    CHECK(detail::name_alternatives("a|b|c") == std::vector<std::string_view>{"a", "b", "c"});
    CHECK(detail::name_words(" x  y ") == std::vector<std::string_view>{"x", "y"});

    probe p;
    p.held = {"transformer.h.2.ln_1.weight", "h.2.ln_2.weight", "embed_out.weight"};
    hf_binder<probe> b(p, "", "transformer.");
    CHECK(b.candidates("h.{}.", "ln_1|ln_a", 2) ==
          std::vector<std::string>{"transformer.h.2.ln_1", "h.2.ln_1", "transformer.h.2.ln_a",
                                   "h.2.ln_a"});
    CHECK(b.resolve("h.{}.", "ln_1", 2, "weight") == "transformer.h.2.ln_1.weight");
    CHECK(b.resolve("h.{}.", "ln_2", 2, "weight") == "h.2.ln_2.weight"); // saved without base
    CHECK(b.resolve("", "^lm_head|^embed_out", 0, "weight") == "embed_out.weight");
    CHECK(b.resolve("", "^lm_head|^embed_out", 0) == "lm_head"); // none held: the first form
    b.ignore("h.{}.", "attn.bias attn.masked_bias", 1);
    CHECK(p.ignored == std::vector<std::string>{"transformer.h.1.attn.bias", "h.1.attn.bias",
                                                "transformer.h.1.attn.masked_bias",
                                                "h.1.attn.masked_bias"});
    // A visitor that cannot tell (a counter) gets the first form.
    parameter_counter counter;
    hf_binder<parameter_counter> blind(counter, "", "transformer.");
    CHECK(blind.resolve("h.{}.", "ln_2", 2, "weight") == "transformer.h.2.ln_2.weight");
}

TEST_CASE("a bare base-model checkpoint and per-expert tensors load into the same numbers") {
    const auto c = test::golden_case::hf("glam");
    auto reference = std::make_unique<glam_model>();
    load_parameters(*reference, c.model);
    const auto expected = logits_of(*reference);

    // Without "model." and with experts.{e}.{gate,up,down}_proj instead of the stacked pair.
    std::vector<std::pair<std::string, std::pair<std::vector<std::uint64_t>, std::vector<float>>>>
        experts;
    for (const char* layer : {"1"}) {
        const std::string p = std::string("model.layers.") + layer + ".mlp.experts.";
        const auto gate_up = c.model.load_floats(p + "gate_up_proj"); // [4, 128, 64]
        const auto down = c.model.load_floats(p + "down_proj");       // [4, 64, 64]
        for (int e = 0; e < 4; ++e) {
            const auto slice = [](const std::vector<float>& v, std::size_t begin, std::size_t n) {
                return std::vector<float>(v.begin() + begin, v.begin() + begin + n);
            };
            const std::string q =
                std::string("layers.") + layer + ".mlp.experts." + std::to_string(e) + ".";
            experts.push_back(
                {q + "gate_proj.weight", {{64, 64}, slice(gate_up, e * 128 * 64, 64 * 64)}});
            experts.push_back({q + "up_proj.weight",
                               {{64, 64}, slice(gate_up, e * 128 * 64 + 64 * 64, 64 * 64)}});
            experts.push_back(
                {q + "down_proj.weight", {{64, 64}, slice(down, e * 64 * 64, 64 * 64)}});
        }
    }
    const auto renamed = safetensors_file::from_bytes(rewrite(
        c.model,
        [](const std::string& name) -> std::string {
            if (name.find("experts.") != std::string::npos) {
                return "";
            }
            return name.rfind("model.", 0) == 0 ? name.substr(6) : name;
        },
        experts));
    auto other = std::make_unique<glam_model>();
    load_parameters(*other, renamed);
    CHECK(logits_of(*other) == expected);

    // A tensor missing in that naming is reported under the name the family expects.
    const auto incomplete = safetensors_file::from_bytes(rewrite(c.model, [](const std::string& n) {
        return n.find("layers.1.mlp.experts.down_proj") != std::string::npos ? std::string() : n;
    }));
    auto broken = std::make_unique<glam_model>();
    try {
        load_parameters(*broken, incomplete);
        FAIL("a missing tensor loaded");
    } catch (const io_error& e) {
        CHECK(std::string(e.what()).find("missing tensor 'model.layers.1.mlp.experts.down_proj'") !=
              std::string::npos);
    }
}
