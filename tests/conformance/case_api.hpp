// The interface between the conformance runner (runner.cpp, compiled once) and one case's model
// (case_model.cpp, compiled once per case with that case's generated model header). The model
// side sees no doctest and no JSON: only tensors by name, the weights, and the checker.
#pragma once

#include <ctt/core/shape.hpp>
#include <ctt/core/weight_type.hpp>
#include <ctt/io/safetensors.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctt::conformance {

/// One case folder: its inputs and weights, and the checks of its outputs.
class case_data {
public:
    virtual ~case_data() = default;

    /// Whether io.safetensors holds `name` (an input, or an output to reproduce).
    [[nodiscard]] virtual bool has(const std::string& name) const = 0;
    [[nodiscard]] virtual std::vector<index_t> shape(const std::string& name) const = 0;
    [[nodiscard]] virtual std::vector<std::int32_t> ints(const std::string& name) const = 0;
    [[nodiscard]] virtual std::vector<float> floats(const std::string& name) const = 0;
    /// model.safetensors.
    [[nodiscard]] virtual const safetensors_file& weights() const = 0;
    /// The weight type to load the model in, when the run asks for one (a reduced-precision
    /// run: `CTT_CONFORMANCE_WEIGHTS=bf16|f16|int8`, with that type's tolerances).
    [[nodiscard]] virtual std::optional<weight_type> weight_storage() const = 0;

    /// Holds `ours` to output `name` (`max|ours - ref| <= 2e-4 max(1, max|ref|)`); `inner` > 0
    /// compares only positions where the case's attention mask is 1, `inner` values each.
    virtual void check_floats(const std::string& name, const std::vector<float>& ours,
                              index_t inner = 0) = 0;
    /// The tolerance of `check_floats`, relative to max(1, max|ref|).
    [[nodiscard]] virtual double tolerance() const = 0;
    /// Greedy decoding at reduced precision: of `steps` teacher-forced steps, `decisive` had an
    /// f32 margin above `threshold`; `flips` picked another token, `decisive_flips` of them at a
    /// decisive step (which fails the case).
    virtual void report_margins(index_t steps, index_t decisive, index_t flips,
                                index_t decisive_flips, double threshold) = 0;
    /// Holds `ours` to output `name` exactly.
    virtual void check_ints(const std::string& name, const std::vector<std::int32_t>& ours) = 0;
    /// Fails the case with `message`.
    virtual void fail(const std::string& message) = 0;
};

/// Defined by each case's model translation unit: loads the model and checks what it can do.
void run_case(case_data& c);

/// Defined by each case's model translation unit: the case folder.
extern const char* const case_directory;

} // namespace ctt::conformance
