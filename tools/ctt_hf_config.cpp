// ctt-hf-config: writes the C++ header of a Hugging Face config.json.
//
//   ctt-hf-config <config.json> <output.hpp> <namespace> [<architecture>] [--weights <type>]
//                 [--kv-cache <type>]
//   ctt-hf-config --list        prints the registry, one "model_type:architecture" per line
//
// <architecture> is an HF class name (GPT2ForSequenceClassification, ...); by default the
// config's "architectures" entry, else the model_type's usual class. <type> (f32, bf16, f16,
// int8) is how the model stores its projections; by default the config's torch_dtype. The
// --kv-cache type (f32, bf16, f16) is how a decoder's sessions hold keys and values.
// Exits with status 1 and a one-line reason on stderr when the configuration is not one ctt
// can reproduce. The CMake function ctt_add_hf_model runs it at configure time.
#include <ctt/io/hf_config.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    if (argc == 2 && std::string_view(argv[1]) == "--list") {
        for (const auto& m : ctt::supported_models) {
            std::cout << m.model_type << ":" << m.architecture << "\n";
        }
        return 0;
    }
    std::vector<std::string_view> args(argv + 1, argv + argc);
    std::optional<ctt::weight_type> weights;
    ctt::weight_type kv_cache = ctt::weight_type::f32;
    for (std::size_t i = 0; i + 1 < args.size();) {
        const bool is_weights = args[i] == "--weights";
        if (!is_weights && args[i] != "--kv-cache") {
            ++i;
            continue;
        }
        const auto type = ctt::parse_weight_type(args[i + 1]);
        if (!type || (!is_weights && *type == ctt::weight_type::int8)) {
            std::cerr << "ctt-hf-config: " << args[i] << " " << args[i + 1] << ": not "
                      << (is_weights ? "f32, bf16, f16 or int8" : "f32, bf16 or f16") << "\n";
            return 1;
        }
        if (is_weights) {
            weights = type;
        } else {
            kv_cache = *type;
        }
        args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                   args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    }
    if (args.size() != 3 && args.size() != 4) {
        std::cerr << "usage: ctt-hf-config <config.json> <output.hpp> <namespace> "
                     "[<architecture>] [--weights f32|bf16|f16|int8] [--kv-cache f32|bf16|f16]\n";
        return 2;
    }
    try {
        const std::string config_path(args[0]);
        const std::string output_path(args[1]);
        std::ifstream in(config_path, std::ios::binary);
        if (!in) {
            throw ctt::io_error("cannot open " + config_path);
        }
        const std::string text((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        const nlohmann::json json = ctt::parse_hf_config(text, config_path);
        const std::string header =
            ctt::hf_config_header(json, args[2], args[0], args.size() == 4 ? args[3] : "", weights,
                                  kv_cache);
        // Rewrite only on change, so dependent targets rebuild only when they must.
        std::ifstream old(output_path);
        const std::string existing((std::istreambuf_iterator<char>(old)),
                                   std::istreambuf_iterator<char>());
        if (existing != header) {
            std::ofstream out(output_path, std::ios::binary);
            out << header;
            if (!out) {
                throw ctt::io_error("cannot write " + output_path);
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "ctt-hf-config: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
