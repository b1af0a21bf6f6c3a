// The conformance runner, compiled once for every case: reads the case folder, implements the
// checks of case_api.hpp with doctest, and fails on any output of case.json left unchecked.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <set>

#include "../support/golden_case.hpp"
#include "case_api.hpp"

namespace {

using namespace ctt;

class golden_case_data final : public conformance::case_data {
public:
    explicit golden_case_data(const test::golden_case& c)
        : case_(c) {
        if (c.io.contains("attention_mask")) {
            mask_ = c.io.load_ints("attention_mask");
        }
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
        if (inner > 0 && !mask_.empty()) {
            CHECK(test::within_tolerance_masked(ours, ref, mask_, inner));
        } else {
            CHECK(test::within_tolerance(ours, ref));
        }
    }
    void check_ints(const std::string& name, const std::vector<std::int32_t>& ours) override {
        if (!has(name)) {
            return;
        }
        checked_.insert(name);
        INFO("output ", name);
        CHECK(ours == case_.io.load_ints(name));
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
