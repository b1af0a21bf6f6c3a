// A latent-diffusion denoising loop: DDIM (Song et al., arXiv:2010.02502, eta = 0, i.e.
// deterministic) over a U-Net loaded from a diffusers `UNet2DConditionModel` checkpoint
// (config.json compiled by ctt_add_hf_model, model.safetensors loaded at run time), conditioned
// on random stand-ins for text-encoder states. The noise schedule is Stable Diffusion's
// "scaled_linear" (betas from 0.00085 to 0.012 over 1000 steps, `set_alpha_to_one`), with the
// timesteps spaced evenly ("leading"). It prints the latent's statistics after every step and
// writes the final latent of the first image as a PGM picture, its channels side by side.
//
//   diffusion_denoise <checkpoint dir> [--steps N] [--size S] [--batch B] [--text-length L]
//                     [--seed N] [--out latent.pgm]
#include "denoise_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor_view;

struct options {
    std::filesystem::path checkpoint;
    index_t steps = 8;
    index_t size = 16;
    index_t batch = 2;
    index_t text_length = 7;
    unsigned seed = 42;
    std::string out = "latent.pgm";
};

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: diffusion_denoise <checkpoint dir> [--steps N] [--size S] "
                         "[--batch B] [--text-length L] [--seed N] [--out latent.pgm]\n");
    std::exit(2);
}

options parse(int argc, char** argv) {
    if (argc < 2) {
        usage();
    }
    options o;
    o.checkpoint = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            usage();
        }
        const char* value = argv[++i];
        if (arg == "--steps") {
            o.steps = std::stoul(value);
        } else if (arg == "--size") {
            o.size = std::stoul(value);
        } else if (arg == "--batch") {
            o.batch = std::stoul(value);
        } else if (arg == "--text-length") {
            o.text_length = std::stoul(value);
        } else if (arg == "--seed") {
            o.seed = static_cast<unsigned>(std::stoul(value));
        } else if (arg == "--out") {
            o.out = value;
        } else {
            usage();
        }
    }
    if (o.steps < 1 || o.steps > 1000 || o.batch < 1 || o.size < 1 || o.text_length < 1) {
        usage();
    }
    return o;
}

struct stats {
    double mean = 0, std = 0, min = 0, max = 0;
};

stats statistics(const std::vector<float>& v) {
    stats s;
    s.min = s.max = v.front();
    for (float x : v) {
        s.mean += x;
        s.min = std::min(s.min, static_cast<double>(x));
        s.max = std::max(s.max, static_cast<double>(x));
    }
    s.mean /= static_cast<double>(v.size());
    for (float x : v) {
        s.std += (x - s.mean) * (x - s.mean);
    }
    s.std = std::sqrt(s.std / static_cast<double>(v.size()));
    return s;
}

/// Image 0's channels side by side, each pixel scaled up `zoom` times, as an 8-bit PGM.
void write_pgm(const std::string& path, const std::vector<float>& latent, index_t channels,
               index_t size, index_t zoom) {
    const float* image = latent.data();
    const auto [lo, hi] = std::minmax_element(image, image + channels * size * size);
    const float range = *hi > *lo ? *hi - *lo : 1.f;
    const index_t width = channels * size * zoom;
    const index_t height = size * zoom;
    std::vector<unsigned char> pixels(width * height);
    for (index_t y = 0; y < height; ++y) {
        for (index_t x = 0; x < width; ++x) {
            const index_t c = x / (size * zoom);
            const index_t col = x % (size * zoom) / zoom;
            const float v = image[(c * size + y / zoom) * size + col];
            pixels[y * width + x] = static_cast<unsigned char>(255.f * (v - *lo) / range + 0.5f);
        }
    }
    std::ofstream f(path, std::ios::binary);
    f << "P5\n" << width << " " << height << "\n255\n";
    f.write(reinterpret_cast<const char*>(pixels.data()),
            static_cast<std::streamsize>(pixels.size()));
    if (!f) {
        throw std::runtime_error("cannot write " + path);
    }
}

} // namespace

int main(int argc, char** argv) try {
    const options o = parse(argc, argv);
    using model_type = denoise_model::model;
    constexpr index_t channels = model_type::in_channels;
    constexpr index_t text_width = model_type::cross_attention_dim;

    auto model = std::make_unique<model_type>();
    const auto weights = ctt::safetensors_file::open(o.checkpoint / "model.safetensors");
    ctt::load_parameters(*model, weights);
    std::printf("U-Net from %s: %zu channels in, latents %zu x %zu x %zu, batch %zu, %zu DDIM "
                "steps\n",
                o.checkpoint.string().c_str(), channels, channels, o.size, o.size, o.batch,
                o.steps);

    // Stable Diffusion's schedule: beta_t = (linspace(sqrt(0.00085), sqrt(0.012), 1000)_t)^2.
    constexpr index_t train_steps = 1000;
    std::vector<double> alpha_bar(train_steps);
    double product = 1;
    for (index_t t = 0; t < train_steps; ++t) {
        const double root = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) *
                                                     static_cast<double>(t) / (train_steps - 1);
        product *= 1.0 - root * root;
        alpha_bar[t] = product;
    }
    const index_t stride = train_steps / o.steps;

    std::mt19937 rng(o.seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> latent(o.batch * channels * o.size * o.size);
    std::vector<float> text(o.batch * o.text_length * text_width);
    for (auto& x : latent) {
        x = normal(rng);
    }
    for (auto& x : text) {
        x = normal(rng);
    }
    const tensor_view<const float, shape<dyn, dyn, dyn>> text_view(
        text.data(), shape<dyn, dyn, dyn>(o.batch, o.text_length, text_width));

    const auto s0 = statistics(latent);
    std::printf("step  t    mean      std       min       max       ms\n");
    std::printf("  -  %4s %9.4f %9.4f %9.4f %9.4f\n", "-", s0.mean, s0.std, s0.min, s0.max);
    for (index_t i = 0; i < o.steps; ++i) {
        const index_t t = (o.steps - 1 - i) * stride;
        const std::vector<float> timesteps(o.batch, static_cast<float>(t));
        const auto start = std::chrono::steady_clock::now();
        const auto eps = model->forward(
            tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
                latent.data(), shape<dyn, dyn, dyn, dyn>(o.batch, channels, o.size, o.size)),
            timesteps, text_view);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        // DDIM, eta = 0: predict x0, then move to the previous timestep along the same noise.
        const double a = alpha_bar[t];
        const double a_prev = t >= stride ? alpha_bar[t - stride] : 1.0;
        for (index_t j = 0; j < latent.size(); ++j) {
            const double e = eps.data()[j];
            const double x0 = (latent[j] - std::sqrt(1.0 - a) * e) / std::sqrt(a);
            latent[j] = static_cast<float>(std::sqrt(a_prev) * x0 + std::sqrt(1.0 - a_prev) * e);
        }
        const auto s = statistics(latent);
        std::printf("%3zu  %4zu %9.4f %9.4f %9.4f %9.4f %8.2f\n", i + 1, t, s.mean, s.std, s.min,
                    s.max, ms);
    }
    write_pgm(o.out, latent, channels, o.size, 8);
    std::printf("wrote %s (image 0, %zu channels side by side)\n", o.out.c_str(), channels);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "diffusion_denoise: %s\n", e.what());
    return 1;
}
