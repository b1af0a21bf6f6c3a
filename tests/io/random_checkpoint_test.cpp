// write_random_checkpoint (ctt-random-checkpoint): the config.json it writes goes through the
// registry's generator to the sizes asked for, and the model.safetensors binds every tensor of
// ctt's LLaMA and GPT-2 under those sizes (nothing missing, nothing left over), in F32 and BF16,
// and the models run on it. Same seed, same bytes.
#include <ctt/io/hf_config.hpp>
#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/random_checkpoint.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

using namespace ctt;

// The constants the generator writes for the spec below (checked against its output).
struct tiny_llama {
    static constexpr index_t vocab_size = 50;
    static constexpr index_t hidden_size = 32;
    static constexpr index_t num_heads = 4;
    static constexpr index_t num_kv_heads = 2;
    static constexpr index_t head_dim = 8;
    static constexpr index_t intermediate_size = 48;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 16;
    static constexpr activation hidden_act = activation::silu;
    static constexpr float norm_eps = 1e-5f;
    static constexpr index_t rotary_dim = 8;
    static constexpr double rope_theta = 10000.0;
    static constexpr bool tie_word_embeddings = false;
};
struct tiny_gpt2 {
    static constexpr index_t vocab_size = 50;
    static constexpr index_t hidden_size = 32;
    static constexpr index_t num_heads = 4;
    static constexpr index_t intermediate_size = 48;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 16;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
};

random_checkpoint_spec spec_for(const std::string& family, dtype storage) {
    random_checkpoint_spec s;
    s.family = family;
    s.hidden = 32;
    s.intermediate = 48;
    s.heads = 4;
    s.kv_heads = family == "llama" ? 2 : 0;
    s.layers = 2;
    s.vocab = 50;
    s.max_positions = 16;
    s.storage = storage;
    s.seed = 3;
    return s;
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class Model>
void check_runs(const std::filesystem::path& dir) {
    auto model = std::make_unique<Model>();
    load_parameters(*model, safetensors_file::open(dir / "model.safetensors"));
    auto session = model->new_session(8);
    tensor<float, shape<dyn, Model::vocab>> logits(1);
    const std::vector<std::int32_t> prompt{1, 7, 3, 49};
    model->step(session, prompt, logits.view());
    for (index_t v = 0; v < Model::vocab; ++v) {
        CHECK(std::isfinite(logits(0, v)));
    }
}

} // namespace

TEST_CASE("random checkpoints: the generator reads their config, ctt's models bind their "
          "tensors") {
    const auto root = std::filesystem::temp_directory_path() / "ctt_random_checkpoint_test";
    for (const dtype storage : {dtype::f32, dtype::bf16}) {
        CAPTURE(dtype_name(storage));
        const auto llama_dir = root / ("llama_" + std::string(dtype_name(storage)));
        const auto bytes = write_random_checkpoint(llama_dir, spec_for("llama", storage));
        const index_t params =
            50 * 32 * 2 + 32 + 2 * (2 * 32 + 32 * 32 * 2 + 2 * 16 * 32 + 3 * 48 * 32);
        CHECK(bytes == params * dtype_size(storage));
        const auto header =
            hf_config_header(nlohmann::json::parse(read_text(llama_dir / "config.json")), "m");
        for (const char* line :
             {"num_kv_heads = 2;", "head_dim = 8;", "intermediate_size = 48;", "num_layers = 2;",
              "vocab_size = 50;", "max_positions = 16;", "tie_word_embeddings = false;"}) {
            CAPTURE(line);
            CHECK(header.find(line) != std::string::npos);
        }
        check_runs<llama<tiny_llama>>(llama_dir);

        const auto gpt2_dir = root / ("gpt2_" + std::string(dtype_name(storage)));
        write_random_checkpoint(gpt2_dir, spec_for("gpt2", storage));
        const auto g =
            hf_config_header(nlohmann::json::parse(read_text(gpt2_dir / "config.json")), "m");
        CHECK(g.find("intermediate_size = 48;") != std::string::npos);
        CHECK(g.find("::ctt::gpt2<config>") != std::string::npos);
        check_runs<gpt2<tiny_gpt2>>(gpt2_dir);
    }
    // The same seed writes the same bytes; another seed, others.
    write_random_checkpoint(root / "again", spec_for("llama", dtype::f32));
    CHECK(read_text(root / "again" / "model.safetensors") ==
          read_text(root / "llama_F32" / "model.safetensors"));
    auto other = spec_for("llama", dtype::f32);
    other.seed = 4;
    write_random_checkpoint(root / "other", other);
    CHECK(read_text(root / "other" / "model.safetensors") !=
          read_text(root / "llama_F32" / "model.safetensors"));
    std::filesystem::remove_all(root);

    auto bad = spec_for("llama", dtype::f32);
    bad.kv_heads = 3;
    CHECK_THROWS_AS(write_random_checkpoint(root, bad), value_error);
    bad = spec_for("bloom", dtype::f32);
    CHECK_THROWS_WITH_AS(write_random_checkpoint(root, bad), doctest::Contains("\"llama\" or"),
                         value_error);
}
