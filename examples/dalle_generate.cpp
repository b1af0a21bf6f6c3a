// DALL-E's transformer generating an image-token grid after a text prompt, one token at a time
// through the KV cache: row, column and convolutional attention layers over [text | 8 x 8 grid].
// No trained DALL-E checkpoint exists in the open, so the weights here are random (seeded): the
// example shows the mechanics (the masks, the cache, the logits mask that makes every image
// position predict an image token), not a picture.
//
//   dalle_generate [--seed N] [--temperature T]
#include <ctt/models/dalle.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

struct demo_config {
    static constexpr ctt::index_t text_vocab_size = 64;
    static constexpr ctt::index_t image_vocab_size = 16;
    static constexpr ctt::index_t text_len = 8; // <bos> and 7 text tokens
    static constexpr ctt::index_t image_size = 8;
    static constexpr ctt::index_t hidden_size = 64;
    static constexpr ctt::index_t num_heads = 4;
    static constexpr ctt::index_t head_dim = 16;
    static constexpr ctt::index_t intermediate_size = 128;
    static constexpr ctt::index_t num_layers = 6;
    // DALL-E's pattern: row and column layers, a convolutional one closing each cycle.
    static constexpr ctt::dalle_pattern attn_types[] = {
        ctt::dalle_pattern::row, ctt::dalle_pattern::column, ctt::dalle_pattern::convolutional};
    static constexpr float norm_eps = 1e-5f;
};

/// N(0, 0.3^2) weights, norm scales near 1.
struct random_weights {
    std::mt19937 rng{2021};
    template <class View>
    void parameter(const std::string& name, View v) {
        std::normal_distribution<float> normal(0.f, 0.3f);
        const bool norm_scale = name.find("norm.weight") != std::string::npos;
        for (ctt::index_t i = 0; i < v.size(); ++i) {
            v.data()[i] = (norm_scale ? 1.f : 0.f) + normal(rng);
        }
    }
    void ignore(const std::string&) {}
};

} // namespace

int main(int argc, char** argv) {
    ctt::sampling_options options{.temperature = 0.9f, .top_k = 8, .seed = 7};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--seed") {
            options.seed = std::strtoull(argv[i + 1], nullptr, 10);
        } else if (flag == "--temperature") {
            options.temperature = std::strtof(argv[i + 1], nullptr);
        } else {
            std::fprintf(stderr, "usage: dalle_generate [--seed N] [--temperature T]\n");
            return 2;
        }
    }
    using model_type = ctt::dalle<demo_config>;
    auto model = std::make_unique<model_type>();
    random_weights weights;
    model->visit_parameters(weights, "");
    model->finish_loading();

    const std::vector<std::int32_t> prompt = {0, 12, 40, 7, 33, 2, 51, 9}; // <bos> + 7 text ids
    const auto start = std::chrono::steady_clock::now();
    const auto image = model->generate_image(prompt, options);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("text prompt:");
    for (const auto t : prompt) {
        std::printf(" %d", t);
    }
    std::printf("\nimage tokens (%zu x %zu grid, ids < %zu):\n", model_type::image_size,
                model_type::image_size, model_type::image_vocab);
    for (ctt::index_t r = 0; r < model_type::image_size; ++r) {
        std::printf("  ");
        for (ctt::index_t c = 0; c < model_type::image_size; ++c) {
            std::printf("%3d", image[r * model_type::image_size + c]);
        }
        std::printf("\n");
    }
    std::printf("%zu image tokens in %.2f ms through the KV cache (%.0f tokens/s)\n", image.size(),
                ms, ms > 0 ? 1000.0 * static_cast<double>(image.size()) / ms : 0.0);
    return 0;
}
