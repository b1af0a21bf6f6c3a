// The conformance runner, compiled once for every case: reads the case folder, implements the
// checks of case_api.hpp with doctest, and fails on any output of case.json left unchecked.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>

#include "../support/golden_case.hpp"
#include "case_api.hpp"

namespace {

using namespace ctt;

/// The weight type of a reduced-precision run (`CTT_CONFORMANCE_WEIGHTS`), or none.
std::optional<weight_type> requested_weights() {
    const char* env = std::getenv("CTT_CONFORMANCE_WEIGHTS");
    if (env == nullptr || *env == '\0') {
        return std::nullopt;
    }
    const auto w = parse_weight_type(env);
    REQUIRE_MESSAGE(w.has_value(),
                    "CTT_CONFORMANCE_WEIGHTS=" << env << ": not f32, bf16, f16, int8");
    return w;
}

/**
 * The tolerance of a run, relative to max(1, max|ref|) as for f32. The reduced types' bounds are
 * the accuracy table's (docs/benchmarks.md): above the largest error measured over the shipped
 * cases by 1.5-3x. The error of a weight rounded to bf16 is up to 2^-9 of it (f16: 2^-12; int8:
 * half a step of its block's scale), and it grows through the layers. A case that amplifies it
 * more (mT5 in int8) sets its own bound, `CTT_CONFORMANCE_TOLERANCE`, in CMake, where it shows.
 */
double tolerance_for(std::optional<weight_type> w) {
    if (const char* env = std::getenv("CTT_CONFORMANCE_TOLERANCE"); env != nullptr && *env) {
        return std::strtod(env, nullptr);
    }
    if (!w) {
        return test::golden_tolerance;
    }
    switch (*w) {
    case weight_type::f32:
        return test::golden_tolerance;
    case weight_type::bf16:
        return 6e-2;
    case weight_type::f16:
        return 1e-2;
    case weight_type::int8:
        return 1e-1;
    }
    return test::golden_tolerance;
}

/// Mean KL(ref || ours) of the softmax of each row of `width` logits, and the share of rows
/// whose argmax agrees.
struct distribution_report {
    double mean_kl = 0;
    double top1 = 0;
};

distribution_report compare_distributions(const std::vector<float>& ours,
                                          const std::vector<float>& ref, index_t width,
                                          const std::vector<std::int32_t>& mask) {
    distribution_report r;
    const index_t all_rows = ref.size() / width;
    index_t rows = 0;
    index_t agree = 0;
    for (index_t i = 0; i < all_rows; ++i) {
        // Padded positions (mask 0, when the mask has one entry per row) are not compared.
        if (mask.size() == all_rows && mask[i] == 0) {
            continue;
        }
        ++rows;
        const float* a = ours.data() + i * width;
        const float* b = ref.data() + i * width;
        double ma = a[0], mb = b[0];
        index_t ia = 0, ib = 0;
        for (index_t j = 1; j < width; ++j) {
            if (a[j] > ma) {
                ma = a[j];
                ia = j;
            }
            if (b[j] > mb) {
                mb = b[j];
                ib = j;
            }
        }
        agree += ia == ib ? 1 : 0;
        double za = 0, zb = 0;
        for (index_t j = 0; j < width; ++j) {
            za += std::exp(a[j] - ma);
            zb += std::exp(b[j] - mb);
        }
        double kl = 0;
        for (index_t j = 0; j < width; ++j) {
            const double lp = b[j] - mb - std::log(zb);
            const double lq = a[j] - ma - std::log(za);
            kl += std::exp(lp) * (lp - lq);
        }
        r.mean_kl += kl;
    }
    r.mean_kl /= static_cast<double>(std::max<index_t>(1, rows));
    r.top1 = static_cast<double>(agree) / static_cast<double>(std::max<index_t>(1, rows));
    return r;
}

class golden_case_data final : public conformance::case_data {
public:
    explicit golden_case_data(const test::golden_case& c)
        : case_(c)
        , weights_(requested_weights())
        , tolerance_(tolerance_for(weights_))
        , name_(c.description.value("name", std::string("?"))) {
        if (c.io.contains("attention_mask")) {
            mask_ = c.io.load_ints("attention_mask");
        }
    }

    [[nodiscard]] std::optional<weight_type> weight_storage() const override { return weights_; }
    [[nodiscard]] double tolerance() const override { return tolerance_; }
    void report_margins(index_t steps, index_t decisive, index_t flips, index_t decisive_flips,
                        double threshold) override {
        std::printf("accuracy %s %s greedy_margins %zu steps, %zu with an f32 margin above %.3g, "
                    "%zu other picks, %zu of them above the margin\n",
                    name_.c_str(),
                    std::string(to_string(weights_.value_or(weight_type::f32))).c_str(), steps,
                    decisive, threshold, flips, decisive_flips);
        CHECK_MESSAGE(decisive_flips == 0, "a reduced-precision model picked another token where "
                                           "the f32 margin excludes it");
    }

    bool has(const std::string& name) const override { return case_.io.contains(name); }
    std::vector<index_t> shape(const std::string& name) const override {
        const auto& s = case_.io.info(name).shape;
        return {s.begin(), s.end()};
    }
    std::vector<std::int32_t> ints(const std::string& name) const override {
        read_.insert(name);
        return case_.io.load_ints(name);
    }
    std::vector<float> floats(const std::string& name) const override {
        read_.insert(name);
        return case_.io.load_floats(name);
    }
    const safetensors_file& weights() const override { return case_.model; }

    void check_floats(const std::string& name, const std::vector<float>& ours,
                      index_t inner) override {
        if (!has(name)) {
            return;
        }
        checked_.insert(name);
        const auto ref = case_.io.load_floats(name);
        INFO("output ", name);
        REQUIRE(ours.size() == ref.size());
        const auto report = inner > 0 && !mask_.empty()
                                ? test::within_tolerance_masked(ours, ref, mask_, inner, tolerance_)
                                : test::within_tolerance(ours, ref, tolerance_);
        CHECK(report);
        if (weights_) {
            // A reduced-precision run also reports what the accuracy table lists.
            std::printf("accuracy %s %s %s max_abs %.3g rel %.3g", name_.c_str(),
                        std::string(to_string(*weights_)).c_str(), name.c_str(),
                        report.max_abs_diff,
                        report.max_abs_diff / std::max(1.0, report.max_abs_ref));
            if (name.find("logits") != std::string::npos) {
                const auto d = compare_distributions(ours, ref, shape(name).back(), mask_);
                std::printf(" kl %.3g top1 %.4f", d.mean_kl, d.top1);
            }
            std::printf("\n");
        }
    }
    void check_ints(const std::string& name, const std::vector<std::int32_t>& ours) override {
        if (!has(name)) {
            return;
        }
        checked_.insert(name);
        INFO("output ", name);
        const auto ref = case_.io.load_ints(name);
        if (weights_ && *weights_ != weight_type::f32) {
            // Greedy ids at reduced precision: reported, not required (a step whose two best
            // logits are closer than the weights' error may pick the other token).
            std::size_t same = 0;
            while (same < ours.size() && same < ref.size() && ours[same] == ref[same]) {
                ++same;
            }
            std::printf("accuracy %s %s %s ids %s (%zu of %zu equal before the first "
                        "difference)\n",
                        name_.c_str(), std::string(to_string(*weights_)).c_str(), name.c_str(),
                        ours == ref ? "equal" : "differ", same, ref.size());
            CHECK(ours.size() == ref.size());
            return;
        }
        CHECK(ours == ref);
    }
    void fail(const std::string& message) override { FAIL_CHECK(message); }

    /// Every tensor of case.json that is not an input (a name below, or one the case read) must
    /// have been checked.
    void all_outputs_checked() const {
        static const std::set<std::string> inputs = {
            "input_ids", "attention_mask", "token_type_ids", "decoder_input_ids", "prefix_embeds"};
        for (const auto& [name, _] : case_.description.at("tensors").items()) {
            if (!inputs.contains(name) && !read_.contains(name) && !checked_.contains(name)) {
                FAIL_CHECK("output '" << name << "' of case.json is not checked by this runner");
            }
        }
    }

private:
    const test::golden_case& case_;
    std::optional<weight_type> weights_;
    double tolerance_;
    std::string name_;
    std::vector<std::int32_t> mask_;
    std::set<std::string> checked_;
    mutable std::set<std::string> read_;
};

} // namespace

TEST_CASE("conformance") {
    INFO("case ", conformance::case_directory);
    const test::golden_case c{std::filesystem::path(conformance::case_directory)};
    golden_case_data data(c);
    conformance::run_case(data);
    data.all_outputs_checked();
}
