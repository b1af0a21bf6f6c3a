// conv2d benchmarks at the U-Net shapes of Stable Diffusion's first two resolutions (batch 1,
// 3x3, padding 1): 64x64x320 -> 320 and 32x32x640 -> 640, plus their 1x1 projections and a
// stride-2 downsampling conv. ctt's implicit GEMM beside an explicit im2col into a reused
// buffer followed by ctt's GEMM (the unfused lowering), and the scalar twin at a small shape.
// Each row reports FLOP/s (2 Cout Cin KH KW Ho Wo per image) and `peak_fraction`: FLOP/s over
// the FMA peak of the kernels' thread count measured in this run (bench_common.hpp).
// Then the U-Net's memory-bound image kernels at the same feature map (64 x 64 x 320, batch 1):
// group_norm (32 groups, with and without the fused SiLU) beside its scalar twin, nearest
// upsampling x2 and channel concatenation, in bytes/s read + written.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/conv2d.hpp>
#include <ctt/kernels/gemm.hpp>
#include <ctt/kernels/group_norm.hpp>
#include <ctt/kernels/image.hpp>
#include <ctt/kernels/reference/conv2d.hpp>
#include <ctt/kernels/reference/group_norm.hpp>
#include <ctt/kernels/reference/image.hpp>

#include "bench_common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace {

using ctt::conv2d_params;
using ctt::index_t;
using ctt::kernels::conv2d_geometry;

void fill(std::vector<float>& v, std::uint32_t seed) {
    std::uint32_t s = seed;
    for (float& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f;
    }
}

/// Geometry from the benchmark's arguments: size (H = W), Cin, Cout, kernel, stride.
struct conv_case {
    conv2d_geometry g;
    conv2d_params p;
    std::vector<float> in, weight, bias, out;

    explicit conv_case(const benchmark::State& state) {
        const auto hw = static_cast<index_t>(state.range(0));
        const auto kernel = static_cast<index_t>(state.range(3));
        g = {1,     static_cast<index_t>(state.range(1)), hw,
             hw,    static_cast<index_t>(state.range(2)), kernel,
             kernel};
        p = conv2d_params::square(static_cast<index_t>(state.range(4)), kernel / 2);
        in.resize(g.in_channels * hw * hw);
        weight.resize(g.out_channels * g.in_channels * kernel * kernel);
        bias.resize(g.out_channels);
        out.resize(g.out_channels * g.out_height(p) * g.out_width(p));
        fill(in, 1);
        fill(weight, 2);
        fill(bias, 3);
    }
    [[nodiscard]] double flops() const {
        return 2.0 * static_cast<double>(g.out_channels * g.in_channels * g.kernel_h * g.kernel_w *
                                         g.out_height(p) * g.out_width(p));
    }
};

void set_counters(benchmark::State& state, const conv_case& c, std::size_t threads,
                  const ctt::bench::peak_fraction_timer& timer) {
    timer.finish(state, c.flops(), threads);
    state.counters["FLOP/s"] =
        benchmark::Counter(c.flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_conv2d_ctt(benchmark::State& state) {
    conv_case c(state);
    const ctt::bench::peak_fraction_timer timer;
    for (auto _ : state) {
        ctt::kernels::conv2d(c.g, c.p, c.in.data(), c.in.size(), c.weight.data(), c.bias.data(),
                             c.out.data(), c.out.size());
        benchmark::DoNotOptimize(c.out.data());
    }
    set_counters(state, c, static_cast<std::size_t>(ctt::simd::max_threads()), timer);
}

/// The lowering made explicit: im2col into a buffer allocated once, then ctt's GEMM.
void BM_conv2d_im2col_gemm(benchmark::State& state) {
    conv_case c(state);
    const index_t oh = c.g.out_height(c.p);
    const index_t ow = c.g.out_width(c.p);
    const index_t k = c.g.in_channels * c.g.kernel_h * c.g.kernel_w;
    std::vector<float> col(k * oh * ow);
    const ctt::bench::peak_fraction_timer timer;
    for (auto _ : state) {
        ctt::simd::parallel_for(0, c.g.in_channels, [&](index_t ci) {
            for (index_t kh = 0; kh < c.g.kernel_h; ++kh) {
                for (index_t kw = 0; kw < c.g.kernel_w; ++kw) {
                    float* row =
                        col.data() + ((ci * c.g.kernel_h + kh) * c.g.kernel_w + kw) * oh * ow;
                    for (index_t y = 0; y < oh; ++y) {
                        const auto ih = static_cast<std::ptrdiff_t>(y * c.p.stride_h + kh) -
                                        static_cast<std::ptrdiff_t>(c.p.pad_h);
                        for (index_t x = 0; x < ow; ++x) {
                            const auto iw = static_cast<std::ptrdiff_t>(x * c.p.stride_w + kw) -
                                            static_cast<std::ptrdiff_t>(c.p.pad_w);
                            const bool inside = ih >= 0 && iw >= 0 &&
                                                ih < static_cast<std::ptrdiff_t>(c.g.height) &&
                                                iw < static_cast<std::ptrdiff_t>(c.g.width);
                            row[y * ow + x] =
                                inside ? c.in[(ci * c.g.height + static_cast<index_t>(ih)) *
                                                  c.g.width +
                                              static_cast<index_t>(iw)]
                                       : 0.f;
                        }
                    }
                }
            }
        });
        for (index_t co = 0; co < c.g.out_channels; ++co) {
            std::fill_n(c.out.data() + co * oh * ow, oh * ow, c.bias[co]);
        }
        ctt::kernels::gemm(c.g.out_channels, oh * ow, k, c.weight.data(), k, col.data(), oh * ow,
                           ctt::kernels::transpose::no, c.out.data(), oh * ow, 1.f, true);
        benchmark::DoNotOptimize(c.out.data());
    }
    set_counters(state, c, static_cast<std::size_t>(ctt::simd::max_threads()), timer);
}

void BM_conv2d_naive(benchmark::State& state) {
    conv_case c(state);
    const ctt::bench::peak_fraction_timer timer;
    for (auto _ : state) {
        ctt::kernels::reference::conv2d(c.g, c.p, c.in.data(), c.in.size(), c.weight.data(),
                                        c.bias.data(), c.out.data(), c.out.size());
        benchmark::DoNotOptimize(c.out.data());
    }
    set_counters(state, c, 1, timer);
}

/// Bytes read and written per iteration: `floats_moved` floats.
void set_bytes(benchmark::State& state, double floats_moved) {
    state.counters["bytes/s"] =
        benchmark::Counter(4.0 * floats_moved, benchmark::Counter::kIsIterationInvariantRate);
}

constexpr index_t image_channels = 320;
constexpr index_t image_side = 64;
constexpr index_t image_floats = image_channels * image_side * image_side;

/// `range(0)`: 0 plain, 1 with the fused SiLU, 2 the scalar twin.
void BM_group_norm(benchmark::State& state) {
    std::vector<float> x(image_floats), y(image_floats), gamma(image_channels),
        beta(image_channels);
    fill(x, 4);
    fill(gamma, 5);
    fill(beta, 6);
    const index_t plane = image_side * image_side;
    for (auto _ : state) {
        if (state.range(0) == 2) {
            ctt::kernels::reference::group_norm(1, image_channels, plane, 32, x.data(),
                                                image_floats, gamma.data(), beta.data(), 1e-5f,
                                                y.data(), image_floats);
        } else {
            ctt::kernels::group_norm(1, image_channels, plane, 32, x.data(), image_floats,
                                     gamma.data(), beta.data(), 1e-5f, y.data(), image_floats,
                                     state.range(0) == 1);
        }
        benchmark::DoNotOptimize(y.data());
    }
    set_bytes(state, 2.0 * image_floats);
}

void BM_upsample_nearest2x(benchmark::State& state) {
    std::vector<float> x(image_floats), y(4 * image_floats);
    fill(x, 7);
    for (auto _ : state) {
        ctt::kernels::upsample_nearest2x(1, image_channels, image_side, image_side, x.data(),
                                         image_floats, y.data(), 4 * image_floats);
        benchmark::DoNotOptimize(y.data());
    }
    set_bytes(state, 5.0 * image_floats);
}

void BM_concat_channels(benchmark::State& state) {
    using map = ctt::tensor<float, ctt::shape<ctt::dyn, ctt::dyn, ctt::dyn, ctt::dyn>>;
    map a(1, image_channels, image_side, image_side), b(1, image_channels, image_side, image_side),
        out(1, 2 * image_channels, image_side, image_side);
    for (auto _ : state) {
        ctt::concat_channels(std::as_const(a).view(), std::as_const(b).view(), out.view());
        benchmark::DoNotOptimize(out.data());
    }
    set_bytes(state, 4.0 * image_floats);
}

void unet_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"hw", "cin", "cout", "k", "stride"});
    b->Args({64, 320, 320, 3, 1});
    b->Args({32, 640, 640, 3, 1});
    b->Args({64, 320, 320, 1, 1});
    b->Args({32, 640, 640, 1, 1});
    b->Args({64, 320, 320, 3, 2});
    b->UseRealTime();
}

} // namespace

BENCHMARK(BM_conv2d_ctt)->Apply(unet_shapes);
BENCHMARK(BM_conv2d_im2col_gemm)->Apply(unet_shapes);
BENCHMARK(BM_conv2d_naive)
    ->ArgNames({"hw", "cin", "cout", "k", "stride"})
    ->Args({16, 32, 32, 3, 1})
    ->UseRealTime();

BENCHMARK(BM_group_norm)->ArgName("plain0_silu1_twin2")->Arg(0)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_upsample_nearest2x)->UseRealTime();
BENCHMARK(BM_concat_channels)->UseRealTime();

BENCHMARK_MAIN();
