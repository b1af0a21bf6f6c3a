#pragma once
/**
 * @file
 * @brief Test support: open a reference case folder (see shared/golden/README.md) and compare
 *        ctt's outputs to the reference with the project's tolerance,
 *        `max|ours - ref| <= 2e-4 * max(1, max|ref|)`.
 *
 * Include from a test at `tests/<layer>/` as `#include "../support/golden_case.hpp"`.
 * `CTT_TEST_DATA_DIR` (set by tests/CMakeLists.txt) locates the case folders.
 *
 * @code
 * const auto c = ctt::test::golden_case::hf("bert");
 * const auto ids = c.io.load_ints("input_ids");
 * ...
 * CHECK(ctt::test::within_tolerance_masked(ours, c.io.load_floats("hidden_states"),
 *                                          c.io.load_ints("attention_mask"), 64));
 * @endcode
 */

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
#include "ctt/io/safetensors.hpp"

namespace ctt::test {

/// The relative tolerance of golden/README.md: `max|ours - ref| <= tol * max(1, max|ref|)`.
inline constexpr double golden_tolerance = 2e-4;

#ifdef CTT_TEST_DATA_DIR
/// The folder holding copies of the reference cases (`hf/<name>/`, `kernels/<name>/`).
inline std::filesystem::path test_data_dir() {
    return CTT_TEST_DATA_DIR;
}
#endif

/// Reads a JSON file; throws `ctt::io_error` naming the file when it is missing or malformed.
inline nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        throw io_error("cannot open " + path.string());
    }
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw io_error("malformed JSON in " + path.string() + ": " + e.what());
    }
}

/**
 * @brief One reference case: `config.json` (the HF config), `case.json` (what each tensor is,
 *        dims), `io.safetensors` (inputs and expected outputs) and `model.safetensors`
 *        (parameters under their reference names).
 */
struct golden_case {
    std::filesystem::path dir;
    nlohmann::json config;
    nlohmann::json description;
    safetensors_file io;
    safetensors_file model;

    explicit golden_case(const std::filesystem::path& folder)
        : dir(folder)
        , config(read_json(folder / "config.json"))
        , description(read_json(folder / "case.json"))
        , io(safetensors_file::open(folder / "io.safetensors"))
        , model(safetensors_file::open(folder / "model.safetensors")) {}

#ifdef CTT_TEST_DATA_DIR
    /// A Hugging Face case copied under `tests/data/hf/<name>` ("bert", "gpt2", ...).
    [[nodiscard]] static golden_case hf(std::string_view name) {
        return golden_case(test_data_dir() / "hf" / name);
    }
    /// A case under `tests/data/<relative>` ("kernels/sdpa_kernels").
    [[nodiscard]] static golden_case data(std::string_view relative) {
        return golden_case(test_data_dir() / relative);
    }
#endif

    /// The case's name (`case.json` "name", else the folder name).
    [[nodiscard]] std::string name() const {
        return description.value("name", dir.filename().string());
    }

    /// A size from `case.json` "dims" ("B", "S", "H", "NH", "V", ...).
    [[nodiscard]] std::size_t dim(const std::string& key) const {
        const auto dims = description.find("dims");
        if (dims == description.end() || !dims->contains(key) ||
            !(*dims)[key].is_number_unsigned()) {
            throw io_error("golden case " + name() + ": case.json has no dims." + key);
        }
        return (*dims)[key].get<std::size_t>();
    }
};

/**
 * @brief The outcome of comparing ctt's values to reference values. Converts to `bool`; prints
 *        the worst element, so `CHECK(within_tolerance(ours, ref))` explains a failure.
 */
struct tolerance_report {
    bool ok = true;
    std::size_t compared = 0;    ///< elements compared (after masking)
    double max_abs_diff = 0;     ///< max |ours - ref| over compared elements (inf for NaN)
    double max_abs_ref = 0;      ///< max |ref| over compared elements
    double bound = 0;            ///< tolerance * max(1, max_abs_ref)
    std::size_t worst_index = 0; ///< flat index of the largest difference
    float ours_at_worst = 0;
    float ref_at_worst = 0;
    std::string problem; ///< a size mismatch, when there is one

    explicit operator bool() const noexcept { return ok; }

    [[nodiscard]] std::string message() const {
        std::ostringstream out;
        out << *this;
        return out.str();
    }

    friend std::ostream& operator<<(std::ostream& out, const tolerance_report& r) {
        if (!r.problem.empty()) {
            return out << r.problem;
        }
        out << "max|ours - ref| = " << r.max_abs_diff << (r.ok ? " <= " : " > ") << "bound "
            << r.bound << " (max|ref| = " << r.max_abs_ref << ", " << r.compared
            << " values compared)";
        if (r.compared > 0) {
            out << "; worst at flat index " << r.worst_index << ": ours " << r.ours_at_worst
                << ", ref " << r.ref_at_worst;
        }
        return out;
    }
};

namespace detail {

template <class Include>
tolerance_report compare(std::span<const float> ours, std::span<const float> ref, double tolerance,
                         Include&& include) {
    tolerance_report r;
    if (ours.size() != ref.size()) {
        r.ok = false;
        r.problem = "sizes differ: ours has " + std::to_string(ours.size()) + " values, ref has " +
                    std::to_string(ref.size());
        return r;
    }
    bool have_worst = false;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        if (!include(i)) {
            continue;
        }
        ++r.compared;
        const double a = ours[i];
        const double b = ref[i];
        r.max_abs_ref = std::max(r.max_abs_ref, std::abs(b));
        // A NaN on either side counts as an infinite difference.
        const double diff = std::isnan(a) || std::isnan(b) || std::isinf(a - b)
                                ? std::numeric_limits<double>::infinity()
                                : std::abs(a - b);
        if (!have_worst || diff > r.max_abs_diff) {
            have_worst = true;
            r.max_abs_diff = diff;
            r.worst_index = i;
            r.ours_at_worst = ours[i];
            r.ref_at_worst = ref[i];
        }
    }
    r.bound = tolerance * std::max(1.0, r.max_abs_ref);
    r.ok = r.max_abs_diff <= r.bound;
    return r;
}

} // namespace detail

/// max |ours - ref| (infinity when the sizes differ or a value is NaN).
[[nodiscard]] inline double max_abs_diff(std::span<const float> ours, std::span<const float> ref) {
    const tolerance_report r = detail::compare(ours, ref, 0.0, [](std::size_t) { return true; });
    return r.problem.empty() ? r.max_abs_diff : std::numeric_limits<double>::infinity();
}

/// Checks `max|ours - ref| <= tolerance * max(1, max|ref|)` over all elements.
[[nodiscard]] inline tolerance_report within_tolerance(std::span<const float> ours,
                                                       std::span<const float> ref,
                                                       double tolerance = golden_tolerance) {
    return detail::compare(ours, ref, tolerance, [](std::size_t) { return true; });
}

/**
 * @brief As `within_tolerance`, but only at positions where `position_mask` is non-zero.
 *
 * Element `i` belongs to position `(i / inner) % position_mask.size()`: for hidden states
 * `[layers, B, S, H]` with `attention_mask [B, S]`, `inner` is H; for logits `[B, S, V]`, V.
 */
[[nodiscard]] inline tolerance_report
within_tolerance_masked(std::span<const float> ours, std::span<const float> ref,
                        std::span<const std::int32_t> position_mask, std::size_t inner,
                        double tolerance = golden_tolerance) {
    if (position_mask.empty() || inner == 0) {
        tolerance_report r;
        r.ok = false;
        r.problem = "within_tolerance_masked: empty mask or zero inner size";
        return r;
    }
    if (ref.size() % (position_mask.size() * inner) != 0) {
        tolerance_report r;
        r.ok = false;
        r.problem = "within_tolerance_masked: " + std::to_string(ref.size()) +
                    " values are not whole groups of " + std::to_string(position_mask.size()) +
                    " positions x " + std::to_string(inner);
        return r;
    }
    return detail::compare(ours, ref, tolerance, [&](std::size_t i) {
        return position_mask[(i / inner) % position_mask.size()] != 0;
    });
}

} // namespace ctt::test
