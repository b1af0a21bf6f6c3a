// ctt-hf-config: writes the C++ header of a Hugging Face config.json.
//
//   ctt-hf-config <config.json> <output.hpp> <namespace> [<architecture>] [--weights <type>]
//   ctt-hf-config --list        prints the registry, one "model_type:architecture" per line
//
// <architecture> is an HF class name (GPT2ForSequenceClassification, ...); by default the
// config's "architectures" entry, else the model_type's usual class. <type> (f32, bf16, f16,
// int8) is how the model stores its projections; by default the config's torch_dtype.
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
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--weights") {
            weights = ctt::parse_weight_type(args[i + 1]);
            if (!weights) {
                std::cerr << "ctt-hf-config: --weights " << args[i + 1]
                          << ": not f32, bf16, f16 or int8\n";
                return 1;
            }
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                       args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
            break;
        }
    }
    if (args.size() != 3 && args.size() != 4) {
        std::cerr << "usage: ctt-hf-config <config.json> <output.hpp> <namespace> "
                     "[<architecture>] [--weights f32|bf16|f16|int8]\n";
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
            ctt::hf_config_header(json, args[2], args[0], args.size() == 4 ? args[3] : "", weights);
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
