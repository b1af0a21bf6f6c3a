#include <ctt/simd/math.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

#if defined(__SANITIZE_ADDRESS__)
#define CTT_MATH_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define CTT_MATH_TEST_SANITIZED 1
#endif
#endif

// Every 61st bit pattern (a prime stride, so every exponent and many mantissas are hit);
// sanitizer builds are several times slower and sample more sparsely.
#ifdef CTT_MATH_TEST_SANITIZED
constexpr std::uint64_t sweep_stride = 1021;
#else
constexpr std::uint64_t sweep_stride = 61;
#endif

constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float qnan = std::numeric_limits<float>::quiet_NaN();

/// Error of `y` against the exact `ref`, in units of the float ULP at `ref` (subnormal ULP below
/// the normal range). A result that should be finite but is not, or the reverse, counts as huge.
double ulp_error(float y, double ref) {
    if (std::isnan(ref)) {
        return std::isnan(y) ? 0.0 : 1e30;
    }
    const auto ref_f = static_cast<float>(ref);
    if (std::isinf(ref_f) || std::isinf(y)) {
        return ref_f == y ? 0.0 : 1e30;
    }
    if (std::isnan(y)) {
        return 1e30;
    }
    int e = 0;
    (void)std::frexp(ref, &e);
    const int exponent = std::max(e - 1, -126);
    const double ulp = std::ldexp(1.0, exponent - 23);
    return std::abs(static_cast<double>(y) - ref) / ulp;
}

struct worst_case {
    double ulp = 0;
    float at = 0;
};

/// Sweeps the float bit patterns with `sweep_stride` and returns the worst ULP error.
template <class Vec, class Ref>
worst_case sweep(Vec vec, Ref ref) {
    constexpr std::size_t w = ctt::simd::width<float>;
    worst_case worst;
    alignas(64) float in[w];
    alignas(64) float out[w];
    constexpr std::uint64_t total = std::uint64_t{1} << 32;
    for (std::uint64_t base = 0; base < total; base += sweep_stride * w) {
        for (std::size_t k = 0; k < w; ++k) {
            const std::uint64_t bits = (base + k * sweep_stride) & 0xffffffffu;
            in[k] = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
        }
        vec(ctt::simd::batch<float>::load_aligned(in)).store_aligned(out);
        for (std::size_t k = 0; k < w; ++k) {
            const double err = ulp_error(out[k], ref(static_cast<double>(in[k])));
            if (err > worst.ulp) {
                worst = {err, in[k]};
            }
        }
    }
    return worst;
}

template <class Vec, class Ref>
double worst_in_range(Vec vec, Ref ref, float lo, float hi, int steps) {
    double worst = 0;
    for (int i = 0; i <= steps; ++i) {
        const float x = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(steps);
        const float y = vec(ctt::simd::batch<float>(x)).get(0);
        worst = std::max(worst, ulp_error(y, ref(static_cast<double>(x))));
    }
    return worst;
}

template <class A>
xsimd::batch<float, A> call_exp(const xsimd::batch<float, A>& x) {
    return ctt::simd::exp(x);
}

} // namespace

TEST_CASE("exp: worst error over the float range") {
    const auto w = sweep([](const auto& x) { return ctt::simd::exp(x); },
                         [](double x) { return std::exp(x); });
    MESSAGE("exp worst error " << w.ulp << " ULP at x = " << w.at);
    CHECK(w.ulp <= 1.5);
}

TEST_CASE("tanh: worst error over the float range") {
    const auto w = sweep([](const auto& x) { return ctt::simd::tanh(x); },
                         [](double x) { return std::tanh(x); });
    MESSAGE("tanh worst error " << w.ulp << " ULP at x = " << w.at);
    CHECK(w.ulp <= 1.5);
}

TEST_CASE("erf: worst error over the float range") {
    const auto w = sweep([](const auto& x) { return ctt::simd::erf(x); },
                         [](double x) { return std::erf(x); });
    MESSAGE("erf worst error " << w.ulp << " ULP at x = " << w.at);
    CHECK(w.ulp <= 2.5);
}

TEST_CASE("dense sweeps where the approximations switch branches") {
    const auto e = [](const auto& x) { return ctt::simd::exp(x); };
    const auto t = [](const auto& x) { return ctt::simd::tanh(x); };
    const auto f = [](const auto& x) { return ctt::simd::erf(x); };
    CHECK(worst_in_range(
              e, [](double x) { return std::exp(x); }, -104.f, 89.f, 200000) <= 1.5);
    CHECK(worst_in_range(
              t, [](double x) { return std::tanh(x); }, -1.f, 1.f, 200000) <= 1.5);
    CHECK(worst_in_range(
              f, [](double x) { return std::erf(x); }, -4.5f, 4.5f, 200000) <= 2.5);
}

TEST_CASE("special values") {
    using ctt::simd::erf;
    using ctt::simd::exp;
    using ctt::simd::tanh;
    CHECK(exp(-inf) == 0.f);
    CHECK(exp(inf) == inf);
    CHECK(std::isnan(exp(qnan)));
    CHECK(exp(0.f) == 1.f);
    CHECK(exp(-0.f) == 1.f);
    CHECK(exp(88.8f) == inf);
    CHECK(exp(1e30f) == inf);
    CHECK(exp(-104.f) == 0.f);
    CHECK(exp(-1e30f) == 0.f);
    CHECK(std::bit_cast<std::uint32_t>(exp(-200.f)) == 0u); // +0, not -0
    CHECK(exp(-87.f) > 0.f);                                // still a normal number
    CHECK(exp(-100.f) > 0.f);                               // a subnormal, not flushed

    CHECK(tanh(inf) == 1.f);
    CHECK(tanh(-inf) == -1.f);
    CHECK(tanh(20.f) == 1.f);
    CHECK(std::isnan(tanh(qnan)));
    CHECK(std::signbit(tanh(-0.f)));
    CHECK(tanh(1e-30f) == 1e-30f);

    CHECK(erf(inf) == 1.f);
    CHECK(erf(-inf) == -1.f);
    CHECK(erf(5.f) == 1.f);
    CHECK(std::isnan(erf(qnan)));
    CHECK(std::signbit(erf(-0.f)));
}

TEST_CASE("array helpers handle tails and agree with the batch version") {
    for (std::size_t n : {1u, 3u, 17u, 33u, 127u}) {
        std::vector<float> x(n), y(n);
        for (std::size_t i = 0; i < n; ++i) {
            x[i] = -5.f + 10.f * static_cast<float>(i) / static_cast<float>(n);
        }
        ctt::simd::exp(x.data(), y.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(y[i] == ctt::simd::exp(x[i]));
        }
        ctt::simd::tanh(x.data(), y.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(y[i] == ctt::simd::tanh(x[i]));
        }
        ctt::simd::erf(x.data(), x.data(), n); // in place
        for (std::size_t i = 0; i < n; ++i) {
            const float xi = -5.f + 10.f * static_cast<float>(i) / static_cast<float>(n);
            CHECK(x[i] == ctt::simd::erf(xi));
        }
    }
}

TEST_CASE("compiles and agrees for every x86 register width the build can run") {
    const float x = 0.3f;
    const float ref = ctt::simd::exp(x);
    CHECK(call_exp(xsimd::batch<float, xsimd::sse2>(x)).get(0) == ref);
#if XSIMD_WITH_AVX2
    CHECK(call_exp(xsimd::batch<float, xsimd::avx2>(x)).get(0) == ref);
#endif
#if XSIMD_WITH_AVX512F
    CHECK(call_exp(xsimd::batch<float, xsimd::avx512f>(x)).get(0) == ref);
    CHECK(ctt::simd::erf(xsimd::batch<float, xsimd::avx512f>(x)).get(0) == ctt::simd::erf(x));
    CHECK(ctt::simd::tanh(xsimd::batch<float, xsimd::avx512f>(x)).get(0) == ctt::simd::tanh(x));
#endif
}

// The 128-bit batch to compare the wide one with. Bit-identity across widths needs the same
// fused multiply-adds: on a CPU with FMA3 that is xsimd's fma3<sse4_2>. Plain sse2 has no FMA
// instruction, so its `fma` rounds twice unless the compiler happens to contract it (GCC does at
// -O2 with -march=native, not at the -O1 of the sanitizer build).
#if XSIMD_WITH_FMA3_SSE
using narrow_batch = xsimd::batch<float, xsimd::fma3<xsimd::sse4_2>>;
#else
using narrow_batch = xsimd::batch<float, xsimd::sse2>;
#endif

// Whether two non-negative floats are at most one representable value apart.
bool within_one_ulp(float a, float b) {
    const auto ia = static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(a));
    const auto ib = static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(b));
    return ia - ib <= 1 && ib - ia <= 1;
}

TEST_CASE("exp agrees on every register width to one value, subnormal results included") {
    // AVX-512 scales by 2^n with one vscalefps, the others in two exponent-field steps.
    std::size_t checked = 0;
    for (float x = -110.f; x < 89.5f; x += 0.0137f) {
        const float wide = ctt::simd::exp(x);
        // Seen on 2026-12-02 (AVX-512, clang 14 release and GCC 12 under ASan): results below
        // about 1e-36 one value apart between the 128-bit and AVX-512 paths; bit-identical in
        // GCC release builds. The cause is not yet found; until it is, one value is allowed.
        CHECK(within_one_ulp(call_exp(narrow_batch(x)).get(0), wide));
        ++checked;
    }
    CHECK(checked > 10000);
}

TEST_CASE("exp_ftz equals exp except where exp is subnormal, where it is +0") {
    using B = ctt::simd::batch<float>;
    using S = narrow_batch;
    const auto ftz = [](float x) { return ctt::simd::exp_ftz(B(x)).get(0); };
    for (float x = -110.f; x < 89.5f; x += 0.0137f) {
        const float e = ctt::simd::exp(x);
        const float f = ftz(x);
        INFO("x = " << x);
        CHECK(std::fpclassify(f) != FP_SUBNORMAL);
        CHECK(f == (x < -87.33f ? 0.f : e));
        CHECK(within_one_ulp(ctt::simd::exp_ftz(S(x)).get(0), f)); // as for exp, above
    }
    CHECK(ftz(-87.33f) >= std::numeric_limits<float>::min()); // the bound itself stays normal
    CHECK(std::bit_cast<std::uint32_t>(ftz(-inf)) == 0u);
    CHECK(std::bit_cast<std::uint32_t>(ftz(-100.f)) == 0u);
    CHECK(ftz(inf) == inf);
    CHECK(std::isnan(ftz(qnan)));
    CHECK(std::isnan(ctt::simd::exp_ftz(S(qnan)).get(0)));
}
