#!/usr/bin/env bash
# Builds the `bench` preset if needed, runs every bench_* program the same way (2 OpenMP
# threads, OpenBLAS left to pick its own kernels, 3 repetitions, medians) and prints one table
# per program: GFLOP/s or GB/s, and the fraction of the 2-thread FMA peak measured by the
# same program in the same run (BM_peak_fma/2).
#
# OpenMP's default wait policy spins: on a machine where other processes compete for the
# cores, ctt's 2-thread figures then collapse (a spinning thread holds the core its partner
# needs). Run with OMP_WAIT_POLICY=passive in that situation; the script passes it through.
#
#   bench/run_benchmarks.sh                       # everything
#   bench/run_benchmarks.sh gemm                  # only bench_gemm
#   bench/run_benchmarks.sh gemm --benchmark_filter='peak|1024'
#
# Raw JSON goes to build/bench-results/<program>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake --preset default
fi
cmake --build --preset bench

only=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    only="$1"
    shift
fi

results="$build_dir/bench-results"
mkdir -p "$results"

print_table() {
    awk '
    function flush() {
        if (name != "" && agg == "median") {
            sub(/_median$/, "", name)
            sub(/\/real_time/, "", name)
            n++; names[n] = name; flops[n] = fl; bytes[n] = by
            if (name ~ /BM_peak_fma\/2$/) peak = fl
        }
        name = ""; agg = ""; fl = ""; by = ""
    }
    function value(line) {
        sub(/^[^:]*:[ ]*/, "", line); sub(/,[ ]*$/, "", line); gsub(/"/, "", line)
        return line
    }
    /"name":/             { flush(); name = value($0) }
    /"aggregate_name":/   { agg = value($0) }
    /"FLOP\/s":/          { fl = value($0) }
    /"bytes_per_second":/ { by = value($0) }
    END {
        flush()
        printf "%-48s %14s %16s\n", "benchmark (median of 3)", "rate", "of 2-thr peak"
        for (i = 1; i <= n; i++) {
            if (flops[i] != "") {
                frac = peak > 0 ? sprintf("%.2f", flops[i] / peak) : "-"
                printf "%-48s %8.1f GFLOP/s %16s\n", names[i], flops[i] / 1e9, frac
            } else if (bytes[i] != "") {
                printf "%-48s %8.1f GB/s    %16s\n", names[i], bytes[i] / 1e9, "-"
            }
            if (names[i] ~ /^BM_gemm_ctt\/1024$/) ctt1024 = flops[i]
            if (names[i] ~ /^BM_gemm_openblas\/1024$/) blas1024 = flops[i]
        }
        if (ctt1024 != "" && blas1024 != "" && peak > 0) {
            printf "\ngemm 1024^3, 2 threads: ctt %.1f GFLOP/s = %.2fx OpenBLAS (%.1f) = %.2fx FMA peak (%.1f)\n", \
                ctt1024 / 1e9, ctt1024 / blas1024, blas1024 / 1e9, ctt1024 / peak, peak / 1e9
        }
    }' "$1"
}

for program in "$build_dir"/bench/bench_*; do
    [ -x "$program" ] || continue
    name=$(basename "$program")
    if [ -n "$only" ] && [ "$name" != "bench_$only" ]; then
        continue
    fi
    echo "== $name"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 \
        "$program" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
        --benchmark_out="$results/$name.json" --benchmark_out_format=json "$@" >/dev/null
    print_table "$results/$name.json"
    echo
done
