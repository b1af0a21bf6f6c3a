#pragma once
/**
 * @file
 * @brief Machine references shared by every ctt benchmark program, so each run reports its
 *        kernels next to what the same machine can do at best, measured in the same run:
 *
 * - `BM_peak_fma/<n>`: independent fused multiply-add chains on enough registers to keep both
 *   FMA ports busy (latency 4 x 2 ports = 8 chains needed; 24 are used) on n threads at once,
 *   FLOP/s over the wall time. `/2` is what 2-thread kernels compare to. A team of plain
 *   threads started once and pinned one per CPU (`fma_team`), rather than OpenMP or a thread
 *   started per pass: see `fma_team` for what each of those was measured to cost.
 *   `measured_peak_flops` gives the same figure to benchmarks that print a fraction of peak.
 * - `BM_read_bandwidth/<MiB>`: a vectorised sum over a buffer of that size by the kernels'
 *   thread count, bytes/s.
 *
 * Every benchmark here uses wall-clock time, because OpenMP workers' CPU time is not
 * charged to the benchmark thread.
 */

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <time.h>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

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

/// Flops of one `peak_fma_pass` on each of `threads` threads.
inline double peak_fma_pass_flops(std::size_t threads) {
    return 2.0 * peak_fma_chains * peak_fma_steps * static_cast<double>(simd::width<float>) *
           static_cast<double>(threads);
}

/**
 * @brief A team of `threads` threads (the caller and `threads - 1` workers) that runs
 *        `peak_fma_pass` together, one thread per CPU.
 *
 * The workers are started once and each is pinned to its own CPU of the process's affinity
 * set (the caller too, for the team's lifetime), so a pass measures `threads` cores and
 * nothing else: a thread started per pass and left to the scheduler was measured here to run
 * whole 3.5 ms passes on the caller's core now and then (one core's worth, 113 of 225 GFLOP/s),
 * and an OpenMP worker still spinning after the previous kernel's region takes the second
 * core the same way for 8-16 ms. Construction runs untimed passes for 50 ms, which outlasts
 * that spin. Workers sleep on an atomic between passes rather than spin.
 */
class fma_team {
public:
    explicit fma_team(std::size_t threads)
        : sink_(threads)
        , cpu_seconds_(threads) {
#if defined(__linux__)
        cpu_set_t allowed;
        CPU_ZERO(&allowed);
        if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
            for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
                if (CPU_ISSET(cpu, &allowed)) {
                    cpus_.push_back(cpu);
                }
            }
            saved_ = allowed;
            pinned_ = cpus_.size() >= threads;
        }
        if (pinned_) {
            pin(pthread_self(), cpus_[0]);
        }
#endif
        for (std::size_t t = 1; t < threads; ++t) {
            workers_.emplace_back([this, t] { work(t); });
#if defined(__linux__)
            if (pinned_) {
                pin(workers_.back().native_handle(), cpus_[t]);
            }
#endif
        }
        // An OpenMP worker left spinning by the previous region was measured to hold its core
        // for 8-16 ms (libgomp's default spin count), so the team warms up for 50 ms.
        const auto start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50)) {
            run_pass();
        }
    }
    fma_team(const fma_team&) = delete;
    fma_team& operator=(const fma_team&) = delete;
    ~fma_team() {
        stop_.store(true);
        generation_.fetch_add(1);
        generation_.notify_all();
        for (auto& w : workers_) {
            w.join();
        }
#if defined(__linux__)
        if (pinned_) {
            pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
        }
#endif
    }

    /// Runs one pass on every thread; returns once all have finished.
    void run_pass() {
        pending_.store(static_cast<int>(workers_.size()));
        generation_.fetch_add(1);
        generation_.notify_all();
        sink_[0] = timed_pass(0);
        for (int left = pending_.load(); left != 0; left = pending_.load()) {
            pending_.wait(left);
        }
        benchmark::DoNotOptimize(sink_.data());
    }

    /**
     * @brief FLOP/s of the last pass by each thread's own CPU clock, summed over the threads:
     *        what the cores do while they run, which time taken by other processes (a
     *        contended core, a late wake-up) does not lower. Equals the wall-clock figure on
     *        an idle machine (225 vs 2 x 116 GFLOP/s here).
     */
    [[nodiscard]] double thread_clock_flops() const noexcept {
        double rate = 0;
        for (const double s : cpu_seconds_) {
            rate += peak_fma_pass_flops(1) / s;
        }
        return rate;
    }

    /// Whether every thread of the team runs on a CPU of its own.
    [[nodiscard]] bool pinned() const noexcept {
        return pinned_;
    }

private:
    /// One pass, recording the calling thread's CPU time for it.
    float timed_pass(std::size_t t) {
        const double start = thread_cpu_seconds();
        const float result = peak_fma_pass(static_cast<float>(t));
        cpu_seconds_[t] = thread_cpu_seconds() - start;
        return result;
    }
    static double thread_cpu_seconds() noexcept {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    }
    void work(std::size_t t) {
        unsigned seen = 0;
        for (;;) {
            generation_.wait(seen);
            seen = generation_.load();
            if (stop_.load()) {
                return;
            }
            sink_[t] = timed_pass(t);
            if (pending_.fetch_sub(1) == 1) {
                pending_.notify_all();
            }
        }
    }
#if defined(__linux__)
    static void pin(pthread_t thread, int cpu) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(thread, sizeof one, &one);
    }
    std::vector<int> cpus_;
    cpu_set_t saved_{};
#endif
    bool pinned_ = false;
    std::vector<float> sink_;
    std::vector<double> cpu_seconds_;
    std::vector<std::thread> workers_;
    std::atomic<unsigned> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

/**
 * @brief FMA peak of `range(0)` threads: wall time of `fma_team` passes, FLOP/s over all
 *        threads (`FLOP/s`), and the same by the threads' own CPU clocks (`thread_FLOP/s`,
 *        see `fma_team::thread_clock_flops`): when the two differ, another process held a
 *        core during the run. `pinned` says whether each thread had a CPU of its own.
 */
inline void BM_peak_fma(benchmark::State& state) {
    const auto threads = static_cast<std::size_t>(state.range(0));
    fma_team team(threads);
    double thread_clock = 0;
    for (auto _ : state) {
        team.run_pass();
        thread_clock += team.thread_clock_flops();
    }
    state.counters["FLOP/s"] = benchmark::Counter(peak_fma_pass_flops(threads),
                                                  benchmark::Counter::kIsIterationInvariantRate);
    state.counters["thread_FLOP/s"] =
        benchmark::Counter(thread_clock, benchmark::Counter::kAvgIterations);
    state.counters["pinned"] = team.pinned() ? 1.0 : 0.0;
}

/**
 * @brief The FMA peak of `threads` threads in FLOP/s, measured once per program and thread
 *        count for benchmarks that report a fraction of peak on each row
 *        (`peak_fraction_timer`): the median over 15 `fma_team` passes of the larger of the
 *        wall-clock and thread-clock rates. On a contended machine this stays the cores' real
 *        peak, so a kernel slowed by the contention reads low against it, never high.
 */
inline double measured_peak_flops(std::size_t threads) {
    static std::mutex guard;
    static std::map<std::size_t, double> cache;
    const std::lock_guard<std::mutex> lock(guard);
    if (const auto it = cache.find(threads); it != cache.end()) {
        return it->second;
    }
    fma_team team(threads);
    std::vector<double> rates;
    for (int i = 0; i < 15; ++i) {
        const auto start = std::chrono::steady_clock::now();
        team.run_pass();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        rates.push_back(
            std::max(peak_fma_pass_flops(threads) / took.count(), team.thread_clock_flops()));
    }
    std::sort(rates.begin(), rates.end());
    return cache[threads] = rates[rates.size() / 2];
}

/**
 * @brief Starts a wall clock at construction; `finish` sets `state.counters["peak_fraction"]`
 *        to the FLOP/s of the iterations run since, over `measured_peak_flops(threads)`
 *        (a plain number, where a rate counter would print it with a "/s").
 */
class peak_fraction_timer {
public:
    peak_fraction_timer() noexcept
        : start_(std::chrono::steady_clock::now()) {}
    void finish(benchmark::State& state, double flops_per_iteration, std::size_t threads) const {
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
        const double rate =
            flops_per_iteration * static_cast<double>(state.iterations()) / took.count();
        state.counters["peak_fraction"] = rate / measured_peak_flops(threads);
    }

private:
    std::chrono::steady_clock::time_point start_;
};

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
