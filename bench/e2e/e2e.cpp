// bench_e2e_<name>: a whole model on one checkpoint, in llama-bench's convention. Built by
// -DCTT_BENCH_CHECKPOINTS=<dir>[;<dir>...] through ctt_add_hf_model (the model type comes from
// the directory's config.json); `ctt-random-checkpoint` writes such directories.
//
//   bench_e2e_<name> [--checkpoint <dir>] [--weights f32|bf16|f16|int8] [-p 512] [-n 128]
//                    [-d depth] [--kv-cache f32|bf16|f16] [-t threads] [-r repetitions]
//                    [--in-place|--in-place-all|--packed] [--json]
//
// --accuracy: instead, the logits of every position of the p-token prompt with the weights as
// given against f32 (the same checkpoint loaded twice): max |delta logit|, the mean KL divergence
// of the next-token distributions, and the top-1 agreement.
//
// pp<p>: tokens/s of one p-token prompt into an empty cache (the logits of its last position,
// which is what generation needs); tg<n>: tokens/s of n one-token steps from an empty cache,
// each fed the previous step's argmax, after a d-token prompt (untimed; llama-bench's -d) when
// d > 0, with the KV cache in the --kv-cache type (default f32). Medians of r runs. Also: load time
// (mmap + bind + pack; the projections of 2^20 weights or more stored as the products read them
// stay in the file's mapping, `weight_binding::in_place`; with --in-place-all, any size; with
// --packed, none), peak RSS after the runs, and for tg the
// fraction of the bandwidth bound: weight bytes read per token (and keys and values at depth) times
// tokens/s over the streaming-read bandwidth measured in the same run.
#include <ctt/io/parameter_loader.hpp>
#include <ctt/io/safetensors.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/simd/parallel.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "e2e_model.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using model_type = e2e_model::model;

/// The checkpoint's model with its sessions' keys and values stored as `E`.
template <ctt::weight_type E>
struct kv_config : e2e_model::config {
    static constexpr ctt::weight_type kv_cache_storage = E;
};
template <ctt::weight_type E>
using model_with_kv = e2e_model::model_of<kv_config<E>>;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::uint64_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::uint64_t>(u.ru_maxrss) * 1024; // kilobytes on Linux
}

/// Bytes of weights a decode step reads: every parameter but the input embedding table (one
/// row of it is read), unless the head reads that table too (tied). A projection weight that
/// was packed (its float copy released) counts in the packed type: 2 bytes for bf16 and f16,
/// 1 + 4/32 (its scale) for int8; embeddings, norms and biases stay float.
struct weight_bytes_counter {
    ctt::weight_type packed = ctt::weight_type::f32;
    std::uint64_t total = 0;
    std::uint64_t embedding = 0;
    template <class T, ctt::tensor_shape S>
    void parameter(const std::string& name, ctt::tensor_view<T, S> v) {
        const bool was_packed = v.data() == nullptr;
        const double per_element = !was_packed ? sizeof(float)
                                   : packed == ctt::weight_type::int8
                                       ? 1.0 + 4.0 / static_cast<double>(ctt::int8_block)
                                       : static_cast<double>(ctt::element_bytes(packed));
        const auto bytes = static_cast<std::uint64_t>(static_cast<double>(v.size()) * per_element);
        total += bytes;
        const bool is_embedding = name.find("embed_tokens") != std::string::npos ||
                                  name.find("wte") != std::string::npos ||
                                  name.find("wpe") != std::string::npos;
        if (is_embedding) {
            embedding += bytes;
        }
    }
    void ignore(const std::string&) {}
};

/// Streaming-read bandwidth (bytes/s) over a buffer far past the caches, `threads` readers.
double read_bandwidth(int threads) {
    const std::size_t floats = std::size_t{64} << 20; // 256 MB
    std::vector<float> buffer(floats, 1.0f);
    std::vector<double> runs;
    for (int r = 0; r < 5; ++r) {
        const auto start = clock_type::now();
        std::vector<float> sums(static_cast<std::size_t>(threads), 0.f);
        ctt::simd::parallel_for(
            0, static_cast<std::size_t>(threads),
            [&](std::size_t t) {
                const std::size_t per = floats / static_cast<std::size_t>(threads);
                const float* p = buffer.data() + t * per;
                float acc[16] = {};
                for (std::size_t i = 0; i + 16 <= per; i += 16) {
                    for (int j = 0; j < 16; ++j) {
                        acc[j] += p[i + static_cast<std::size_t>(j)];
                    }
                }
                sums[t] = std::accumulate(acc, acc + 16, 0.f);
            },
            threads);
        const double s = seconds_since(start);
        if (sums[0] < 0) {
            std::printf("impossible\n");
        }
        runs.push_back(static_cast<double>(floats * sizeof(float)) / s);
    }
    return median(runs);
}

struct options {
    std::string checkpoint = CTT_E2E_CHECKPOINT;
    ctt::weight_type weights = ctt::default_weights<model_type>;
    ctt::index_t prompt = 512;
    ctt::index_t generate = 128;
    ctt::index_t depth = 0;
    ctt::weight_type kv_cache = ctt::weight_type::f32;
    int threads = ctt::simd::max_threads();
    int repetitions = 3;
    bool json = false;
    bool accuracy = false;
    ctt::weight_binding binding = ctt::weight_binding::in_place;
};

/// The logits of every position of `prompt` with the weights stored as `w`.
std::vector<float> all_logits(const std::string& checkpoint, ctt::weight_type w,
                              const std::vector<std::int32_t>& prompt) {
    auto model = std::make_unique<model_type>();
    {
        const auto file = ctt::safetensors_file::open(checkpoint + "/model.safetensors");
        ctt::load_parameters(*model, file, w);
    }
    constexpr ctt::index_t V = model_type::vocab;
    ctt::tensor<float, ctt::shape<ctt::dyn, V>> logits(prompt.size());
    auto session = model->new_session(prompt.size());
    model->step(session, prompt, logits.view());
    return {logits.data(), logits.data() + logits.size()};
}

/// `--accuracy`: the prompt's logits with weights `w` against f32.
int accuracy(const options& o, const std::vector<std::int32_t>& prompt) {
    constexpr ctt::index_t V = model_type::vocab;
    const auto ref = all_logits(o.checkpoint, ctt::weight_type::f32, prompt);
    const auto ours = all_logits(o.checkpoint, o.weights, prompt);
    double max_abs = 0, kl_sum = 0;
    std::size_t agree = 0;
    for (std::size_t i = 0; i < prompt.size(); ++i) {
        const float* p = ref.data() + i * V;
        const float* q = ours.data() + i * V;
        const auto pm = ctt::argmax({p, V});
        const auto qm = ctt::argmax({q, V});
        agree += pm == qm ? 1 : 0;
        double zp = 0, zq = 0;
        for (ctt::index_t j = 0; j < V; ++j) {
            max_abs = std::max(max_abs, static_cast<double>(std::fabs(p[j] - q[j])));
            zp += std::exp(static_cast<double>(p[j] - p[pm]));
            zq += std::exp(static_cast<double>(q[j] - q[qm]));
        }
        double kl = 0;
        for (ctt::index_t j = 0; j < V; ++j) {
            const double lp = p[j] - p[pm] - std::log(zp);
            const double lq = q[j] - q[qm] - std::log(zq);
            kl += std::exp(lp) * (lp - lq);
        }
        kl_sum += kl;
    }
    const std::string name = o.checkpoint.substr(o.checkpoint.find_last_of('/') + 1);
    const std::string weights(ctt::to_string(o.weights));
    const double n = static_cast<double>(prompt.size());
    if (o.json) {
        std::printf("{\"model\": \"%s\", \"test\": \"accuracy%zu\", \"weights\": \"%s\", "
                    "\"max_abs_logit_diff\": %.4g, \"mean_kl\": %.4g, \"top1\": %.4f}\n",
                    name.c_str(), prompt.size(), weights.c_str(), max_abs, kl_sum / n,
                    static_cast<double>(agree) / n);
    } else {
        std::printf("| %-14s | %-7s | %zu positions | max |dlogit| %.4g | mean KL %.4g | top-1 "
                    "%.4f |\n",
                    name.c_str(), weights.c_str(), prompt.size(), max_abs, kl_sum / n,
                    static_cast<double>(agree) / n);
    }
    return 0;
}

/// pp and tg of one model type (the checkpoint's, or a variant with another KV cache).
template <class Model>
int measure(const options& o, const std::vector<std::int32_t>& prompt) {
    constexpr ctt::index_t V = Model::vocab;
    auto model = std::make_unique<Model>();
    const auto load_start = clock_type::now();
    {
        const auto file = ctt::safetensors_file::open(o.checkpoint + "/model.safetensors");
        ctt::load_parameters(*model, file, o.weights, o.binding);
    }
    const double load_ms = 1000.0 * seconds_since(load_start);

    ctt::tensor<float, ctt::shape<ctt::dyn, V>> logits(1);
    std::vector<double> pp, tg;
    for (int r = 0; r < o.repetitions; ++r) {
        if (o.prompt > 0) {
            auto session = model->new_session(o.prompt);
            const auto start = clock_type::now();
            model->step(session, prompt, logits.view());
            pp.push_back(static_cast<double>(o.prompt) / seconds_since(start));
        }
        if (o.generate > 0) {
            auto session = model->new_session(o.depth + o.generate);
            if (o.depth > 0) {
                std::vector<std::int32_t> context(o.depth);
                for (ctt::index_t i = 0; i < o.depth; ++i) {
                    context[i] = prompt.empty() ? 1 : prompt[i % prompt.size()];
                }
                model->step(session, context, logits.view());
            }
            std::int32_t token = prompt.empty() ? 1 : prompt.front();
            const auto start = clock_type::now();
            for (ctt::index_t i = 0; i < o.generate; ++i) {
                model->step(session, std::span(&token, 1), logits.view());
                token = static_cast<std::int32_t>(ctt::argmax({logits.data(), V}));
            }
            tg.push_back(static_cast<double>(o.generate) / seconds_since(start));
        }
    }
    const std::uint64_t rss = peak_rss_bytes();
    weight_bytes_counter counter;
    counter.packed = o.weights;
    model->visit_parameters(counter, "");
    const bool tied = counter.total == counter.embedding || Model::spec::tie_word_embeddings;
    // Keys and values each step reads: every layer's cache, at the run's mean length.
    using element = typename Model::session_type::layer_type::element_type;
    const auto kv_per_token = static_cast<std::uint64_t>(
        2.0 * static_cast<double>(Model::num_layers * Model::kv_width * sizeof(element)) *
        (static_cast<double>(o.depth) + static_cast<double>(o.generate + 1) / 2.0));
    const std::uint64_t per_token = counter.total - (tied ? 0 : counter.embedding) + kv_per_token;
    const double bandwidth = read_bandwidth(o.threads);

    const std::string name = o.checkpoint.substr(o.checkpoint.find_last_of('/') + 1);
    const std::string weights(ctt::to_string(o.weights));
    const std::string kv(ctt::to_string(o.kv_cache));
    const char* binding = o.binding == ctt::weight_binding::in_place       ? "in_place"
                          : o.binding == ctt::weight_binding::in_place_all ? "in_place_all"
                                                                           : "packed";
    const auto report = [&](const std::string& test, double tps, double bound) {
        if (o.json) {
            std::printf("{\"model\": \"%s\", \"test\": \"%s\", \"weights\": \"%s\", "
                        "\"kv_cache\": \"%s\", \"binding\": \"%s\", \"threads\": "
                        "%d, \"tokens_per_second\": %.3f, \"load_ms\": %.1f, \"peak_rss_bytes\": "
                        "%llu, \"weight_bytes\": %llu, \"read_bandwidth\": %.4g, "
                        "\"bandwidth_bound_fraction\": %.4f}\n",
                        name.c_str(), test.c_str(), weights.c_str(), kv.c_str(), binding, o.threads,
                        tps, load_ms, static_cast<unsigned long long>(rss),
                        static_cast<unsigned long long>(counter.total), bandwidth, bound);
        } else {
            std::printf("| %-14s | %-7s | %-4s | %7d | %-11s | %10.2f | %s\n", name.c_str(),
                        weights.c_str(), kv.c_str(), o.threads, test.c_str(), tps,
                        bound > 0 ? (std::to_string(bound).substr(0, 4) + " of bound").c_str()
                                  : "");
        }
    };
    if (!o.json) {
        std::printf("%s: %.1f MB of weights (%.1f MB read per token), loaded (%s) in %.0f ms, "
                    "peak RSS %.1f MB, read bandwidth %.1f GB/s on %d threads\n",
                    o.checkpoint.c_str(), static_cast<double>(counter.total) / 1e6,
                    static_cast<double>(per_token) / 1e6, binding, load_ms,
                    static_cast<double>(rss) / 1e6, bandwidth / 1e9, o.threads);
        std::printf("| model          | weights | kv   | threads | test        |        t/s |\n");
    }
    if (!pp.empty()) {
        report("pp" + std::to_string(o.prompt), median(pp), 0.0);
    }
    if (!tg.empty()) {
        const double t = median(tg);
        report("tg" + std::to_string(o.generate) +
                   (o.depth > 0 ? "@d" + std::to_string(o.depth) : std::string()),
               t, t * static_cast<double>(per_token) / bandwidth);
    }
    return 0;
}

int usage() {
    std::fprintf(stderr,
                 "usage: bench_e2e [--checkpoint <dir>] [--weights f32|bf16|f16|int8] "
                 "[-p N] [-n N] [-d depth] [--kv-cache f32|bf16|f16] "
                 "[-t threads] [-r repetitions] [--in-place|--in-place-all|--packed] [--json] "
                 "[--accuracy]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--checkpoint") {
            o.checkpoint = value();
        } else if (a == "--weights") {
            const std::string w = value();
            const auto type = ctt::parse_weight_type(w);
            if (!type) {
                std::fprintf(stderr, "bench_e2e: --weights %s: not f32, bf16, f16 or int8\n",
                             w.c_str());
                return 2;
            }
            o.weights = *type;
        } else if (a == "--kv-cache") {
            const std::string w = value();
            const auto type = ctt::parse_weight_type(w);
            if (!type || *type == ctt::weight_type::int8) {
                std::fprintf(stderr, "bench_e2e: --kv-cache %s: not f32, bf16 or f16\n", w.c_str());
                return 2;
            }
            o.kv_cache = *type;
        } else if (a == "-d") {
            o.depth = std::strtoull(value().c_str(), nullptr, 10);
        } else if (a == "-p") {
            o.prompt = std::strtoull(value().c_str(), nullptr, 10);
        } else if (a == "-n") {
            o.generate = std::strtoull(value().c_str(), nullptr, 10);
        } else if (a == "-t") {
            o.threads = std::atoi(value().c_str());
        } else if (a == "-r") {
            o.repetitions = std::max(1, std::atoi(value().c_str()));
        } else if (a == "--in-place") {
            o.binding = ctt::weight_binding::in_place;
        } else if (a == "--in-place-all") {
            o.binding = ctt::weight_binding::in_place_all;
        } else if (a == "--packed") {
            o.binding = ctt::weight_binding::packed;
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--accuracy") {
            o.accuracy = true;
        } else {
            return usage();
        }
    }
    ctt::simd::set_num_threads(o.threads);

    constexpr ctt::index_t V = model_type::vocab;
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(V) - 1);
    std::vector<std::int32_t> prompt(o.prompt);
    for (auto& t : prompt) {
        t = pick(rng);
    }
    if (o.accuracy) {
        return accuracy(o, prompt);
    }
    try {
        switch (o.kv_cache) {
        case ctt::weight_type::bf16:
            return measure<model_with_kv<ctt::weight_type::bf16>>(o, prompt);
        case ctt::weight_type::f16:
            return measure<model_with_kv<ctt::weight_type::f16>>(o, prompt);
        default:
            return measure<model_type>(o, prompt);
        }
    } catch (const std::exception& e) { // a missing file, a context past max_position_embeddings
        std::fprintf(stderr, "bench_e2e: %s\n", e.what());
        return 1;
    }
}
