#pragma once
/**
 * @file
 * @brief Machine references shared by every ctt benchmark program, so each run reports its
 *        kernels next to what the same machine can do at best, measured in the same run:
 *
 * - `BM_peak_fma/<n>`: independent fused multiply-add chains on enough registers to keep both
 *   FMA ports busy (latency 4 x 2 ports = 8 chains needed; 24 are used) on n threads at once,
 *   FLOP/s over the wall time. `/2` is what 2-thread kernels compare to. Plain threads,
 *   joined per pass (about 2 ms, so thread start-up costs ~2%), rather than OpenMP, so the
 *   reference does not inherit OpenMP's spin-waiting when the machine is shared.
 * - `BM_read_bandwidth/<MiB>`: a vectorised sum over a buffer of that size by the kernels'
 *   thread count, bytes/s.
 *
 * Every benchmark here uses wall-clock time, because OpenMP workers' CPU time is not
 * charged to the benchmark thread.
 */

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "ctt/simd/batch.hpp"
#include "ctt/simd/parallel.hpp"

namespace ctt::bench {

/// Flops of one pass of `peak_fma_pass`.
inline constexpr std::int64_t peak_fma_chains = 24;
inline constexpr std::int64_t peak_fma_steps = 1 << 19;

/// One thread's share: `peak_fma_chains` dependency chains of `peak_fma_steps` FMAs each.
inline float peak_fma_pass(float seed) {
    using batch = simd::batch<float>;
    batch acc[peak_fma_chains];
    for (std::int64_t i = 0; i < peak_fma_chains; ++i) {
        acc[i] = batch(seed + static_cast<float>(i));
    }
    const batch mul(0.999999f);
    const batch add(1e-7f);
    for (std::int64_t s = 0; s < peak_fma_steps; ++s) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((acc[I] = simd::fma(acc[I], mul, add)), ...);
        }
        (std::make_index_sequence<peak_fma_chains>{});
    }
    batch total(0.f);
    for (std::int64_t i = 0; i < peak_fma_chains; ++i) {
        total += acc[i];
    }
    return simd::reduce_add(total);
}

inline void BM_peak_fma(benchmark::State& state) {
    const auto threads = static_cast<std::size_t>(state.range(0));
    std::vector<float> sink(threads);
    for (auto _ : state) {
        // Wall time of all threads together; threads are joined (blocking), never spun on.
        std::vector<std::thread> workers;
        for (std::size_t t = 1; t < threads; ++t) {
            workers.emplace_back([&sink, t] { sink[t] = peak_fma_pass(static_cast<float>(t)); });
        }
        sink[0] = peak_fma_pass(0.f);
        for (auto& w : workers) {
            w.join();
        }
        benchmark::DoNotOptimize(sink.data());
    }
    const double flops = 2.0 * peak_fma_chains * peak_fma_steps *
                         static_cast<double>(simd::width<float>) * static_cast<double>(threads);
    state.counters["FLOP/s"] =
        benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

/// Sums `n` floats from `p` with four independent accumulators (a streaming read).
inline float sum_stream(const float* p, std::size_t n) {
    using batch = simd::batch<float>;
    constexpr std::size_t w = simd::width<float>;
    batch acc0(0.f), acc1(0.f), acc2(0.f), acc3(0.f);
    std::size_t i = 0;
    for (; i + 4 * w <= n; i += 4 * w) {
        acc0 += batch::load_unaligned(p + i);
        acc1 += batch::load_unaligned(p + i + w);
        acc2 += batch::load_unaligned(p + i + 2 * w);
        acc3 += batch::load_unaligned(p + i + 3 * w);
    }
    float total = simd::reduce_add((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; ++i) {
        total += p[i];
    }
    return total;
}

/**
 * @brief Streaming-read bandwidth of a buffer of `range(0)` MiB, read by as many threads as
 *        the kernels use (OpenMP's thread count), each summing its contiguous share: the
 *        bound a memory-bound kernel (the decode step) is held to.
 */
inline void BM_read_bandwidth(benchmark::State& state) {
    const auto floats = static_cast<std::size_t>(state.range(0)) * (std::size_t{1} << 20) / 4;
    std::vector<float> buffer(floats, 1.f);
    const auto threads = static_cast<std::size_t>(simd::max_threads());
    std::vector<float> sums(threads);
    for (auto _ : state) {
        simd::parallel_for(0, threads, [&](std::size_t t) {
            const std::size_t begin = floats * t / threads;
            const std::size_t end = floats * (t + 1) / threads;
            sums[t] = sum_stream(buffer.data() + begin, end - begin);
        });
        benchmark::DoNotOptimize(sums.data());
    }
    state.counters["threads"] = static_cast<double>(threads);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(floats * sizeof(float)));
}

} // namespace ctt::bench

BENCHMARK(ctt::bench::BM_peak_fma)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(ctt::bench::BM_read_bandwidth)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();
