// ctt-random-checkpoint: writes a random-weight LLaMA or GPT-2 checkpoint in Hugging Face layout
// (config.json + model.safetensors) for benchmarks that need no download.
//
//   ctt-random-checkpoint <dir> [--family llama|gpt2] [--preset llama-160m|llama-1.1b]
//                         [--hidden N] [--intermediate N] [--heads N] [--kv-heads N]
//                         [--layers N] [--vocab N] [--max-positions N] [--dtype f32|f16|bf16]
//                         [--seed N]
#include <ctt/io/random_checkpoint.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: ctt-random-checkpoint <dir> [--family llama|gpt2] "
                 "[--preset llama-160m|llama-1.1b] [--hidden N] [--intermediate N] [--heads N] "
                 "[--kv-heads N] [--layers N] [--vocab N] [--max-positions N] "
                 "[--dtype f32|f16|bf16] [--seed N]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]).rfind("--", 0) == 0) {
        return usage();
    }
    ctt::random_checkpoint_spec spec;
    const std::string dir = argv[1];
    try {
        for (int i = 2; i < argc; i += 2) {
            if (i + 1 >= argc) {
                return usage();
            }
            const std::string flag = argv[i];
            const std::string value = argv[i + 1];
            const auto number = [&] { return static_cast<ctt::index_t>(std::stoull(value)); };
            if (flag == "--family") {
                spec.family = value;
            } else if (flag == "--preset") {
                spec.family = "llama";
                if (value == "llama-160m") { // the 160m of the end-to-end benchmark
                    spec.hidden = 768, spec.intermediate = 2048, spec.heads = 12,
                    spec.kv_heads = 12, spec.layers = 12, spec.vocab = 32000;
                } else if (value == "llama-1.1b") { // TinyLlama's shape
                    spec.hidden = 2048, spec.intermediate = 5632, spec.heads = 32,
                    spec.kv_heads = 4, spec.layers = 22, spec.vocab = 32000;
                } else {
                    return usage();
                }
            } else if (flag == "--hidden") {
                spec.hidden = number();
            } else if (flag == "--intermediate") {
                spec.intermediate = number();
            } else if (flag == "--heads") {
                spec.heads = number();
            } else if (flag == "--kv-heads") {
                spec.kv_heads = number();
            } else if (flag == "--layers") {
                spec.layers = number();
            } else if (flag == "--vocab") {
                spec.vocab = number();
            } else if (flag == "--max-positions") {
                spec.max_positions = number();
            } else if (flag == "--seed") {
                spec.seed = std::stoull(value);
            } else if (flag == "--dtype") {
                const auto t = ctt::dtype_from_name(value == "f32"    ? "F32"
                                                    : value == "f16"  ? "F16"
                                                    : value == "bf16" ? "BF16"
                                                                      : "?");
                if (!t) {
                    return usage();
                }
                spec.storage = *t;
            } else {
                return usage();
            }
        }
        const auto bytes = ctt::write_random_checkpoint(dir, spec);
        std::printf("%s: %s, %.1f MB of %s weights\n", dir.c_str(), spec.family.c_str(),
                    static_cast<double>(bytes) / 1e6,
                    std::string(ctt::dtype_name(spec.storage)).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ctt-random-checkpoint: %s\n", e.what());
        return 1;
    }
    return 0;
}
