// Row-wise kernels split large views over threads; every row stays on one thread, so the
// results must be identical, bit for bit, whatever the thread count.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/activations.hpp>
#include <ctt/kernels/norms.hpp>
#include <ctt/kernels/softmax.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <random>

namespace {

using rows_t = ctt::tensor<float, ctt::shape<ctt::dyn, 1000>>;

rows_t run(int threads, const rows_t& x, const ctt::tensor<float, ctt::shape<1000>>& gamma) {
    ctt::simd::set_num_threads(threads);
    rows_t out(x.rows());
    ctt::layer_norm(x.view(), gamma.view(), gamma.view(), 1e-5f, out.view());
    ctt::gelu_erf(out.view());
    ctt::softmax_rows(out.view(), 0.7f);
    ctt::rms_norm(ctt::tensor_view<const float, ctt::shape<ctt::dyn, 1000>>(out.view()),
                  gamma.view(), 1e-6f, out.view());
    return out;
}

} // namespace

TEST_CASE("row-wise kernels give the same bits on 1 and 2 threads") {
    const int saved = ctt::simd::max_threads();
    rows_t x(131); // 131000 elements: above the threshold where rows are split over threads
    ctt::tensor<float, ctt::shape<1000>> gamma;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.f, 2.f);
    for (auto& v : x) {
        v = normal(rng);
    }
    for (auto& g : gamma) {
        g = 1.f + 0.1f * normal(rng);
    }
    const auto one = run(1, x, gamma);
    const auto two = run(2, x, gamma);
    ctt::simd::set_num_threads(saved);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}
