// A tour of ctt's kernels: static and runtime shapes, views, GEMM, softmax, norms,
// activations and fused attention, each checked against its scalar twin.
#include <ctt/ctt.hpp>
#include <ctt/kernels/reference/gemm.hpp>

#include <cmath>
#include <cstdio>
#include <random>

namespace {

template <class T, class S>
void fill_random(ctt::tensor<T, S>& t, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (auto& x : t) {
        x = normal(rng);
    }
}

template <class S>
void print_matrix(const char* name, const ctt::tensor<float, S>& m, ctt::index_t max_rows = 3,
                  ctt::index_t max_cols = 6) {
    std::printf("%s [%zu x %zu]\n", name, m.rows(), m.cols());
    for (ctt::index_t r = 0; r < m.rows() && r < max_rows; ++r) {
        std::printf("  ");
        for (ctt::index_t c = 0; c < m.cols() && c < max_cols; ++c) {
            std::printf("%9.4f ", m(r, c));
        }
        std::printf("%s\n", m.cols() > max_cols ? "..." : "");
    }
}

template <class SA, class SB>
double max_abs_diff(const ctt::tensor<float, SA>& a, const ctt::tensor<float, SB>& b) {
    double d = 0;
    for (ctt::index_t i = 0; i < a.size(); ++i) {
        d = std::max(d, static_cast<double>(std::abs(a.data()[i] - b.data()[i])));
    }
    return d;
}

} // namespace

int main() {
    using namespace ctt;
    constexpr index_t hidden = 64;
    constexpr index_t heads = 4;
    constexpr index_t head_dim = hidden / heads;
    const index_t tokens = 7; // a runtime sequence length

    std::printf("ctt kernels tour (SIMD: %s, %zu floats per register)\n\n", simd::arch::name(),
                simd::width<float>);

    // Activations [tokens, hidden]: runtime rows, static width.
    tensor<float, shape<dyn, hidden>> x(tokens);
    fill_random(x, 1);
    print_matrix("x", x);

    // A projection y = x W^T + b, W in PyTorch's [out, in] layout.
    tensor<float, shape<3 * hidden, hidden>> w_qkv;
    tensor<float, shape<3 * hidden>> b_qkv;
    fill_random(w_qkv, 2);
    fill_random(b_qkv, 3);
    scale(w_qkv.view(), 1.f / std::sqrt(static_cast<float>(hidden))); // a typical init
    tensor<float, shape<dyn, 3 * hidden>> qkv(tokens);
    matmul_bt(x.view(), w_qkv.view(), b_qkv.view(), qkv.view());
    tensor<float, shape<dyn, 3 * hidden>> qkv_ref(tokens);
    kernels::reference::gemm(tokens, 3 * hidden, hidden, x.data(), hidden, w_qkv.data(), hidden,
                             kernels::transpose::yes, qkv_ref.data(), 3 * hidden, 1.f, false,
                             b_qkv.data());
    print_matrix("qkv = x W^T + b", qkv);
    std::printf("  max |gemm - scalar twin| = %.3g\n\n", max_abs_diff(qkv, qkv_ref));

    // Views: Q, K and V are column blocks of qkv; no copy.
    auto q = qkv.view().cols<hidden>(0);
    auto k = qkv.view().cols<hidden>(hidden);
    auto v = qkv.view().cols<hidden>(2 * hidden);

    // Causal multi-head attention, fused (flash) and by the scalar reference.
    tensor<float, shape<dyn, hidden>> attn(tokens);
    tensor<float, shape<dyn, hidden>> attn_ref(tokens);
    attention_heads<head_dim>(q, k, v, attn.view(), causal_mask{}, no_bias{}, no_transform{},
                              attention_params{}, heads, heads);
    for (index_t h = 0; h < heads; ++h) {
        reference_attention(q.cols<head_dim>(h * head_dim), k.cols<head_dim>(h * head_dim),
                            v.cols<head_dim>(h * head_dim),
                            attn_ref.view().cols<head_dim>(h * head_dim), causal_mask{});
    }
    print_matrix("causal attention, 4 heads", attn);
    std::printf("  max |flash - reference| = %.3g\n\n", max_abs_diff(attn, attn_ref));

    // Norms and activations, in place.
    tensor<float, shape<hidden>> gamma;
    tensor<float, shape<hidden>> beta;
    gamma.fill(1.f);
    layer_norm(attn.view(), gamma.view(), beta.view(), 1e-5f, attn.view());
    print_matrix("layer_norm(attention)", attn);
    gelu_erf(attn.view());
    print_matrix("gelu(layer_norm(attention))", attn);

    // Softmax over rows with a scale.
    tensor<float, shape<dyn, 8>> scores(2);
    fill_random(scores, 4);
    softmax_rows(scores.view(), 0.5f);
    print_matrix("softmax(0.5 * scores)", scores, 2, 8);
    double row_sum = 0;
    for (index_t c = 0; c < 8; ++c) {
        row_sum += scores(0, c);
    }
    std::printf("  row 0 sums to %.6f\n", row_sum);
    return 0;
}
