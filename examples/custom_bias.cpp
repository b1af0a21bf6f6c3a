// A positional encoding of your own, fused into ctt's attention kernel without touching it.
//
// Every score bias of ctt (ALiBi, T5 buckets, DeBERTa, ...) is a type that models the
// `ctt::score_bias` concept: `add(head, q_pos, k_begin, n, row)` adds the bias of keys
// `k_begin .. k_begin + n` for the query at `q_pos` to a row of scores, inside the tile loop.
// The flash kernel keeps queries in SIMD lanes, so it would rather go down a key's column:
// the optional `add_column(head, k_pos, q_begin, n, col)` (`ctt::column_score_bias`) adds the
// bias of queries `q_begin .. q_begin + n` for one key. Without it the kernel transposes each
// tile to call `add`.
//
// This one is a Gaussian locality prior, `-(i - j)^2 / (2 * width_h^2)` with a width per head
// (the kind of bias vision transformers and speech models try); it is checked against the
// scalar reference attention and timed with both forms beside the same attention without a
// bias.
#include <ctt/ctt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

class gaussian_locality_bias {
public:
    explicit gaussian_locality_bias(std::vector<float> widths)
        : widths_(std::move(widths)) {}

    void add(ctt::index_t head, ctt::index_t q_pos, ctt::index_t k_begin, ctt::index_t n,
             float* row) const {
        const float inv = 1.f / (2.f * widths_[head] * widths_[head]);
        // Distances as int, which the compiler vectorises (size_t to float it does not).
        const int d0 = static_cast<int>(k_begin) - static_cast<int>(q_pos);
        for (int t = 0; t < static_cast<int>(n); ++t) {
            const auto d = static_cast<float>(d0 + t);
            row[t] -= d * d * inv;
        }
    }
    void add_column(ctt::index_t head, ctt::index_t k_pos, ctt::index_t q_begin, ctt::index_t n,
                    float* col) const {
        const float inv = 1.f / (2.f * widths_[head] * widths_[head]);
        const int d0 = static_cast<int>(k_pos) - static_cast<int>(q_begin);
        for (int t = 0; t < static_cast<int>(n); ++t) {
            const auto d = static_cast<float>(d0 - t);
            col[t] -= d * d * inv;
        }
    }

private:
    std::vector<float> widths_;
};
static_assert(ctt::column_score_bias<gaussian_locality_bias>);

/// The same bias seen through its row form only.
struct rows_only {
    const gaussian_locality_bias* bias;
    void add(ctt::index_t head, ctt::index_t q_pos, ctt::index_t k_begin, ctt::index_t n,
             float* row) const {
        bias->add(head, q_pos, k_begin, n, row);
    }
};

} // namespace

int main() {
    using namespace ctt;
    constexpr index_t heads = 4;
    constexpr index_t head_dim = 64;
    constexpr index_t width = heads * head_dim;
    const index_t length = 300;

    tensor<float, shape<dyn, width>> q(length);
    tensor<float, shape<dyn, width>> k(length);
    tensor<float, shape<dyn, width>> v(length);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (auto* t : {&q, &k, &v}) {
        for (auto& x : *t) {
            x = normal(rng);
        }
    }
    const gaussian_locality_bias bias({4.f, 16.f, 64.f, 256.f});

    tensor<float, shape<dyn, width>> fused(length);
    tensor<float, shape<dyn, width>> plain(length);
    // Milliseconds per call, over 20 calls after a warm-up call.
    const auto time = [](auto&& f) {
        f();
        constexpr int calls = 20;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) {
            f();
        }
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                   .count() /
               calls;
    };
    const double ms_bias = time([&] {
        attention_heads<head_dim>(q.view(), k.view(), v.view(), fused.view(), no_mask{}, bias,
                                  no_transform{}, attention_params{}, heads, heads);
    });
    tensor<float, shape<dyn, width>> by_rows(length);
    const double ms_rows = time([&] {
        attention_heads<head_dim>(q.view(), k.view(), v.view(), by_rows.view(), no_mask{},
                                  rows_only{&bias}, no_transform{}, attention_params{}, heads,
                                  heads);
    });
    const double ms_plain = time([&] {
        attention_heads<head_dim>(q.view(), k.view(), v.view(), plain.view(), no_mask{}, no_bias{},
                                  no_transform{}, attention_params{}, heads, heads);
    });

    double worst = 0;
    tensor<float, shape<dyn, head_dim>> ref(length);
    for (index_t h = 0; h < heads; ++h) {
        reference_attention(q.view().cols<head_dim>(h * head_dim),
                            k.view().cols<head_dim>(h * head_dim),
                            v.view().cols<head_dim>(h * head_dim), ref.view(), no_mask{}, bias,
                            no_transform{}, attention_params{}, h);
        for (index_t i = 0; i < length; ++i) {
            for (index_t d = 0; d < head_dim; ++d) {
                const float r = ref(i, d);
                worst =
                    std::max({worst, static_cast<double>(std::abs(fused(i, h * head_dim + d) - r)),
                              static_cast<double>(std::abs(by_rows(i, h * head_dim + d) - r))});
            }
        }
    }
    std::printf("gaussian locality bias over %zu tokens, %zu heads of %zu\n", length, heads,
                head_dim);
    std::printf("  max |flash - reference| = %.3g\n", worst);
    std::printf("  fused bias %.3f ms (row form only %.3f ms), no bias %.3f ms per call\n", ms_bias,
                ms_rows, ms_plain);
    return worst < 1e-4 ? 0 : 1;
}
