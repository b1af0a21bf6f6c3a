// Runs a Hugging Face checkpoint compiled in by ctt_add_hf_model (see examples/CMakeLists.txt):
//
//   <runner> <checkpoint-dir> [token ids...] [--new-tokens N] [--temperature T] [--top-k K]
//            [--top-p P] [--seed S]
//   <runner> <checkpoint-dir> --prompt "text" [...]
//
// --prompt tokenizes the text with the checkpoint's tokenizer.json (ctt::text) and decoders print
// the continuation as text while it is generated; --ids (the default) takes token ids.
//
// <checkpoint-dir> holds model.safetensors (and the config.json the runner was compiled for).
// What runs follows what the model can do (ctt/models/model_concepts.hpp), not its family:
// decoders and encoder-decoders generate tokens, greedy unless a temperature is given; sequence
// scorers print their scores; encoders print a summary of their output. Timings: load, prompt
// (prefill) and decode.
#include "runner_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/model_concepts.hpp>
#if CTT_RUNNER_TEXT
#include <ctt/text/tokenizer.hpp>
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using model_type = runner_model::model;

double ms_since(clock_type::time_point start) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

struct options {
    std::filesystem::path checkpoint;
    std::vector<std::int32_t> tokens;
    ctt::index_t new_tokens = 8;
    ctt::sampling_options sampling;
    std::string prompt; ///< --prompt: text to tokenize with the checkpoint's tokenizer.json
    bool has_prompt = false;
#if CTT_RUNNER_TEXT
    std::shared_ptr<const ctt::text::tokenizer> tokenizer; ///< set with --prompt
#endif
};

options parse(int argc, char** argv) {
    if (argc < 2) {
        throw std::invalid_argument("usage: " + std::string(argv[0]) +
                                    " <checkpoint-dir> [token ids...] [--new-tokens N]"
                                    " [--temperature T] [--top-k K] [--top-p P] [--seed S]");
    }
    options o;
    o.checkpoint = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw std::invalid_argument(std::string(a) + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--new-tokens") {
            o.new_tokens = std::stoul(value());
        } else if (a == "--temperature") {
            o.sampling.temperature = std::stof(value());
        } else if (a == "--top-k") {
            o.sampling.top_k = std::stoul(value());
        } else if (a == "--top-p") {
            o.sampling.top_p = std::stof(value());
        } else if (a == "--seed") {
            o.sampling.seed = std::stoull(value());
        } else if (a == "--prompt") {
            o.prompt = value();
            o.has_prompt = true;
        } else if (a == "--ids") {
            o.has_prompt = false;
        } else {
            o.tokens.push_back(static_cast<std::int32_t>(std::stol(std::string(a))));
        }
    }
    if (o.has_prompt) {
#if CTT_RUNNER_TEXT
        o.tokenizer = std::make_shared<const ctt::text::tokenizer>(
            ctt::text::tokenizer::from_file(o.checkpoint / "tokenizer.json"));
        o.tokens.clear();
        for (const auto id : o.tokenizer->encode(o.prompt).ids) {
            o.tokens.push_back(static_cast<std::int32_t>(id));
        }
        if (o.tokens.empty()) {
            throw std::invalid_argument("--prompt: the text gives no tokens");
        }
#else
        throw std::invalid_argument("--prompt needs ctt::text (configure with CTT_TEXT=ON)");
#endif
    }
    if (o.tokens.empty()) {
        o.tokens = {5, 17, 42, 7, 99, 12};
    }
    return o;
}

[[maybe_unused]] void print_tokens(const char* label, std::span<const std::int32_t> tokens) {
    std::printf("%s", label);
    for (auto t : tokens) {
        std::printf(" %d", t);
    }
    std::printf("\n");
}

template <class Model>
void run_decoder(const Model& model, const options& o) {
    auto session = model.new_session(o.tokens.size() + o.new_tokens);
    // Generation needs the logits of the prompt's last position only.
    ctt::tensor<float, ctt::shape<ctt::dyn, Model::vocab>> logits(1);
    auto start = clock_type::now();
    model.step(session, o.tokens, logits.view());
    const double prompt_ms = ms_since(start);
    // Decode from the prompt's last logits through the same cache.
    std::vector<std::int32_t> out(o.tokens);
    std::mt19937_64 rng(o.sampling.seed);
    ctt::tensor<float, ctt::shape<ctt::dyn, Model::vocab>> step_logits(1);
#if CTT_RUNNER_TEXT
    // With --prompt the continuation is printed as it comes, never half a UTF-8 character.
    std::optional<ctt::text::decode_stream> stream;
    if (o.tokenizer) {
        stream.emplace(*o.tokenizer, true);
        std::printf("%s", o.prompt.c_str());
        std::fflush(stdout);
    }
#endif
    start = clock_type::now();
    auto last = logits[logits.rows() - 1];
    for (ctt::index_t t = 0; t < o.new_tokens; ++t) {
        const auto next = ctt::choose_token({last.data(), Model::vocab}, o.sampling, rng);
        out.push_back(next);
#if CTT_RUNNER_TEXT
        if (stream) {
            std::printf("%s", stream->step(static_cast<std::uint32_t>(next)).c_str());
            std::fflush(stdout);
        }
#endif
        if (t + 1 == o.new_tokens) {
            break;
        }
        model.step(session, std::span<const std::int32_t>(&out.back(), 1), step_logits.view());
        last = step_logits[0];
    }
    const double decode_ms = ms_since(start);
#if CTT_RUNNER_TEXT
    if (stream) {
        std::printf("\n");
    }
#endif
    print_tokens("prompt   :", o.tokens);
    print_tokens("generated:", std::span(out).subspan(o.tokens.size()));
    std::printf("prompt %zu tokens in %.2f ms; %zu new tokens in %.2f ms (%.1f tokens/s)\n",
                o.tokens.size(), prompt_ms, o.new_tokens, decode_ms,
                decode_ms > 0 ? 1000.0 * static_cast<double>(o.new_tokens) / decode_ms : 0.0);
}

template <class Model>
void run_encoder_decoder(const Model& model, const options& o) {
    const ctt::token_ids ids(o.tokens.data(), ctt::shape<ctt::dyn, ctt::dyn>(1, o.tokens.size()));
    auto start = clock_type::now();
    const auto enc = model.encode(ids);
    const double encode_ms = ms_since(start);
    auto session = model.new_session(enc, 0, o.new_tokens + 1);
    const std::int32_t begin = Model::config::decoder_start_token_id;
    start = clock_type::now();
    const auto out =
        ctt::generate_with(model, session, std::span(&begin, 1), o.new_tokens, o.sampling);
    const double decode_ms = ms_since(start);
    print_tokens("input    :", o.tokens);
    print_tokens("generated:", std::span(out).subspan(1));
    std::printf("encoder %zu tokens in %.2f ms; %zu new tokens in %.2f ms (%.1f tokens/s)\n",
                o.tokens.size(), encode_ms, o.new_tokens, decode_ms,
                decode_ms > 0 ? 1000.0 * static_cast<double>(o.new_tokens) / decode_ms : 0.0);
}

template <class Model>
void run_encoder(const Model& model, const options& o) {
    const ctt::token_ids ids(o.tokens.data(), ctt::shape<ctt::dyn, ctt::dyn>(1, o.tokens.size()));
    const auto start = clock_type::now();
    const auto out = model.forward(ids);
    const double ms = ms_since(start);
    const auto& last = out.last_hidden_state;
    print_tokens("input    :", o.tokens);
    std::printf("last hidden state [%zu x %zu]: first values %.6f %.6f %.6f\n", last.rows(),
                last.cols(), last(0, 0), last(0, 1), last(0, 2));
    const auto embedding = model.embed(ids, nullptr, ctt::pooling::mean, true);
    std::printf("sentence embedding (mean pooled, L2-normalised), first values: %.6f %.6f %.6f\n",
                embedding(0, 0), embedding(0, 1), embedding(0, 2));
    if constexpr (Model::has_pooler) {
        std::printf("pooled output, first values: %.6f %.6f %.6f\n", out.pooled(0, 0),
                    out.pooled(0, 1), out.pooled(0, 2));
    }
    if constexpr (Model::has_sentence_pair) {
        std::printf("sentence-pair logits: %.6f %.6f\n", out.seq_relationship_logits(0, 0),
                    out.seq_relationship_logits(0, 1));
    }
    std::printf("encoder %zu tokens in %.2f ms\n", o.tokens.size(), ms);
}

template <class Model>
void run_scorer(const Model& model, const options& o) {
    const ctt::token_ids ids(o.tokens.data(), ctt::shape<ctt::dyn, ctt::dyn>(1, o.tokens.size()));
    const auto start = clock_type::now();
    const auto scores = model.scores(ids);
    const double ms = ms_since(start);
    print_tokens("input    :", o.tokens);
    std::printf("scores   :");
    for (float s : scores) {
        std::printf(" %.6f", s);
    }
    std::printf("\nscored %zu tokens in %.2f ms\n", o.tokens.size(), ms);
}

/// A deterministic test image for vision models: `[1, channels, size, size]` smooth gradients.
[[maybe_unused]] std::vector<float> gradient_image(ctt::index_t channels, ctt::index_t size) {
    std::vector<float> p(channels * size * size);
    for (ctt::index_t c = 0; c < channels; ++c) {
        for (ctt::index_t y = 0; y < size; ++y) {
            for (ctt::index_t x = 0; x < size; ++x) {
                p[(c * size + y) * size + x] = std::sin(0.1f * static_cast<float>((c + 1) * x) +
                                                        0.05f * static_cast<float>(y));
            }
        }
    }
    return p;
}

template <class Model>
void run_vision(const Model& model) {
    constexpr auto channels = Model::channels;
    constexpr auto size = Model::grid * Model::patch;
    const auto pixels = gradient_image(channels, size);
    const ctt::pixel_values image(
        pixels.data(), ctt::shape<ctt::dyn, ctt::dyn, ctt::dyn, ctt::dyn>(1, channels, size, size));
    const auto start = clock_type::now();
    const auto out = model.forward_pixels(image);
    std::printf("a %zux%zu gradient image: %zu tokens in %.2f ms; CLS state %.6f %.6f %.6f\n", size,
                size, out.last_hidden_state.rows(), ms_since(start), out.last_hidden_state(0, 0),
                out.last_hidden_state(0, 1), out.last_hidden_state(0, 2));
}

template <class Model>
void run_contrastive(const Model& model, const options& o) {
    using vision = typename Model::vision_model;
    constexpr auto size = vision::grid * vision::patch;
    const auto pixels = gradient_image(vision::channels, size);
    const ctt::pixel_values image(pixels.data(), ctt::shape<ctt::dyn, ctt::dyn, ctt::dyn, ctt::dyn>(
                                                     1, vision::channels, size, size));
    const ctt::token_ids ids(o.tokens.data(), ctt::shape<ctt::dyn, ctt::dyn>(1, o.tokens.size()));
    const auto out = model.forward(ids, image);
    print_tokens("text     :", o.tokens);
    std::printf("logits_per_image (a gradient image against the text): %.6f\n",
                out.logits_per_image(0, 0));
}

template <class Model>
void run(const Model& model, const options& o) {
    if constexpr (ctt::seq2seq_model<Model>) {
        run_encoder_decoder(model, o);
    } else if constexpr (ctt::contrastive_model<Model>) {
        run_contrastive(model, o);
    } else if constexpr (ctt::pixel_encoder<Model>) {
        run_vision(model);
    } else if constexpr (ctt::batch_encoder<Model>) {
        run_encoder(model, o);
    } else if constexpr (ctt::sequence_scorer<Model>) {
        run_scorer(model, o);
    } else {
        static_assert(ctt::causal_decoder<Model>, "hf_runner: the model can do nothing it runs");
        run_decoder(model, o);
    }
}

} // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        const auto start = clock_type::now();
        const auto file = ctt::safetensors_file::open(o.checkpoint / "model.safetensors");
        auto model = std::make_unique<model_type>();
        ctt::load_parameters(*model, file);
        std::printf("%s (%s): loaded in %.2f ms\n", o.checkpoint.string().c_str(),
                    runner_model::model_type, ms_since(start));
        run(*model, o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
