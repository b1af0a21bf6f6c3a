#pragma once
/**
 * @file
 * @brief Binds a model's tensors to the tensors of a safetensors checkpoint by their Hugging
 *        Face names, with shape checks, and reports every missing, unexpected or mis-shaped
 *        tensor by name.
 *
 * Models and blocks describe their parameters through one protocol:
 * @code
 * template <class Visitor> void visit_parameters(Visitor& v, const std::string& prefix);
 * @endcode
 * which calls `v.parameter(prefix + "name", view)` for every tensor the module owns, in HF's
 * name and shape, and `v.ignore(name)` for a tensor a checkpoint may carry that the module
 * does not need (a tied copy, a buffer). `parameter_loader` is one such visitor; a test or a
 * tool can write others (count parameters, dump names).
 */

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/io/safetensors.hpp"

namespace ctt {

/// How `load_parameters` gives the linear layers their weights. Results are bit-identical
/// either way.
enum class weight_binding {
    /// The default: the weights of at least `in_place_min_elements` elements are read where
    /// they lie in the mapped file when the checkpoint stores them as the products can read
    /// them (`[out, in]` or `[in, out]` rows in the weight type's own dtype: F32, BF16 or F16).
    /// No copy, no conversion, a load in milliseconds, and the file's mapping lives as long as
    /// the model. Smaller weights are packed: they stay in the caches, where the packed slivers
    /// read up to 4.5x faster than rows (`docs/benchmarks.md`), and their copy costs
    /// microseconds. So is any other weight (another dtype, `int8`, a model that transforms
    /// weights at load, a caller's buffer).
    in_place,
    /// As `in_place`, whatever the weight's size: every weight the file stores as the products
    /// can read them stays in the mapping.
    in_place_all,
    /// Every weight copied (and converted) into the GEMM's sliver layout: the load reads and
    /// writes every weight; prompts run up to 15% faster on wide models (no sliver packed per
    /// product).
    packed,
};

/// The smallest weight (in elements) that `weight_binding::in_place` reads in place: 2^20, 4 MiB
/// in f32, past a core's L2, where the one-row product is bound by memory and rows read as fast
/// as packed slivers.
inline constexpr index_t in_place_min_elements = index_t{1} << 20;

/// A `[rows, cols]` weight a loader hands out in place (`parameter_loader::rows_in_place`).
struct in_place_rows {
    const void* data = nullptr;          ///< row-major, each element aligned to its size
    weight_type type = weight_type::f32; ///< the stored dtype
    std::shared_ptr<const void> owner;   ///< keeps `data` alive
};

/** @brief A parameter visitor that reads each visited tensor from a safetensors file. */
class parameter_loader {
public:
    /// Packs linear layers as `type`, each as soon as it is read; with `defer_packing`, only
    /// in `run_after_loading` (a model that transforms weights at load needs them unpacked).
    /// With `weight_binding::in_place` (the default) or `in_place_all`, hands out the weights
    /// it can in place instead.
    explicit parameter_loader(const safetensors_file& file, weight_type type = weight_type::f32,
                              bool defer_packing = false,
                              weight_binding binding = weight_binding::in_place)
        : file_(file)
        , type_(type)
        , defer_(defer_packing)
        , binding_(binding)
        , owner_(binding != weight_binding::packed ? file.keep_alive() : nullptr) {}

    /// Reads tensor `name` into `dst`; a mismatch of shape is recorded and reported by finish().
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> dst) {
        if (!visited_.insert(name).second) {
            problems_.push_back("'" + name + "' is bound twice");
            return;
        }
        if (!file_.contains(name)) {
            missing_.push_back(name);
            return;
        }
        try {
            file_.read_into(name, dst);
            file_.release_pages(name); // copied: the mapped pages need not stay resident
        } catch (const io_error& e) {
            problems_.emplace_back(e.what());
        }
    }

    /**
     * @brief A linear layer's `[rows, cols]` weight `name`, bound in place (and counted as
     *        read) when the loader binds in place (a weight this large, for the default
     *        `weight_binding::in_place`) and the file stores it so: this shape, the weight
     *        type's own dtype, each element aligned. Otherwise nothing, and the layer
     *        reads it through `parameter` (where a missing or mis-shaped tensor is reported).
     */
    [[nodiscard]] std::optional<in_place_rows> rows_in_place(const std::string& name, index_t rows,
                                                             index_t cols) {
        if (binding_ == weight_binding::packed || defer_ || owner_ == nullptr ||
            (binding_ == weight_binding::in_place && rows * cols < in_place_min_elements) ||
            visited_.contains(name) || !file_.contains(name)) {
            return std::nullopt;
        }
        const tensor_info& t = file_.info(name);
        const bool same_dtype = (type_ == weight_type::f32 && t.type == dtype::f32) ||
                                (type_ == weight_type::bf16 && t.type == dtype::bf16) ||
                                (type_ == weight_type::f16 && t.type == dtype::f16);
        const auto bytes = file_.raw_bytes(name);
        if (!same_dtype || t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols ||
            reinterpret_cast<std::uintptr_t>(bytes.data()) % element_bytes(type_) != 0) {
            return std::nullopt;
        }
        visited_.insert(name);
        in_place_bytes_ += bytes.size();
        return in_place_rows{bytes.data(), type_, owner_};
    }

    /// Bytes of weights bound in place so far.
    [[nodiscard]] std::size_t in_place_bytes() const noexcept { return in_place_bytes_; }

    /// Whether the checkpoint holds tensor `name` (lets a model pick between a family's older and
    /// newer names, see `models/hf_names.hpp`).
    [[nodiscard]] bool contains(std::string_view name) const { return file_.contains(name); }

    /// Accepts tensor `name` in the checkpoint without reading it.
    void ignore(const std::string& name) { ignored_.insert(name); }

    /// A linear layer whose weight was just visited: packed now in the loader's weight type
    /// (so one layer at a time is held in `float`), or after the model's `finish_loading`.
    void pack_when_loaded(std::function<void(weight_type)> pack) {
        if (defer_) {
            after_loading_.push_back(std::move(pack));
        } else {
            pack(type_);
        }
    }

    /// Packs the deferred layers, once.
    void run_after_loading() {
        for (auto& f : after_loading_) {
            f(type_);
        }
        after_loading_.clear();
    }

    /// The weight type linear layers are packed in.
    [[nodiscard]] weight_type weights() const noexcept { return type_; }

    /// Number of tensors bound so far.
    [[nodiscard]] std::size_t loaded_tensors() const noexcept { return visited_.size(); }

    /// Throws `io_error` naming every missing, unexpected or mis-shaped tensor.
    void finish() const {
        std::vector<std::string> unexpected;
        for (const auto& name : file_.names()) {
            if (!visited_.contains(name) && !ignored_.contains(name)) {
                unexpected.push_back(name);
            }
        }
        if (missing_.empty() && unexpected.empty() && problems_.empty()) {
            return;
        }
        std::string msg = "parameter binding failed:";
        const auto list = [&msg](const char* what, const std::vector<std::string>& names) {
            constexpr std::size_t shown = 12;
            for (std::size_t i = 0; i < names.size() && i < shown; ++i) {
                msg += std::string("\n  ") + what + " '" + names[i] + "'";
            }
            if (names.size() > shown) {
                msg += detail::message("\n  ... and ", std::to_string(names.size() - shown),
                                       " more ", what);
            }
        };
        list("missing tensor", missing_);
        list("unexpected tensor", unexpected);
        for (const auto& p : problems_) {
            msg += "\n  " + p;
        }
        throw io_error(msg);
    }

private:
    const safetensors_file& file_;
    weight_type type_ = weight_type::f32;
    bool defer_ = false;
    weight_binding binding_ = weight_binding::in_place;
    std::shared_ptr<const void> owner_;
    std::size_t in_place_bytes_ = 0;
    std::set<std::string, std::less<>> visited_;
    std::set<std::string, std::less<>> ignored_;
    std::vector<std::string> missing_;
    std::vector<std::string> problems_;
    std::vector<std::function<void(weight_type)>> after_loading_;
};

namespace detail {
/// A visitor that reads nothing and collects the linear layers' packing (`pack_weights`).
struct weight_packer {
    std::vector<std::function<void(weight_type)>> work;
    template <class T, tensor_shape S>
    void parameter(const std::string&, tensor_view<T, S>) {}
    void ignore(const std::string&) {}
    void pack_when_loaded(std::function<void(weight_type)> f) { work.push_back(std::move(f)); }
    void run(weight_type type) {
        for (auto& f : work) {
            f(type);
        }
        work.clear();
    }
};
} // namespace detail

/// The weight type a model packs its linear layers in by default: `Model::weight_storage` (its
/// configuration's `weight_storage`, see `ctt_add_hf_model(... WEIGHTS ...)`), else `f32`.
template <class Model>
inline constexpr weight_type default_weights = [] {
    if constexpr (requires { Model::weight_storage; }) {
        return static_cast<weight_type>(Model::weight_storage);
    } else {
        return weight_type::f32;
    }
}();

/// What `load_parameters` did.
struct load_summary {
    std::size_t tensors = 0;        ///< tensors bound (read, or bound in place)
    std::size_t in_place_bytes = 0; ///< bytes of weights the model reads where they lie in the file
};

/**
 * @brief Loads every parameter of `model` from `file` (throws `io_error` naming every missing,
 *        unexpected or mis-shaped tensor), runs the model's load-time transforms, and packs its
 *        linear layers as `weights`: each layer as soon as it is read, so that a bf16 or int8
 *        model never holds more than one layer in `float`. A model whose `finish_loading`
 *        rewrites projection weights (`Model::transforms_weights_at_load`) is packed after it.
 *        By default (`weight_binding::in_place`) the projections of at least
 *        `in_place_min_elements` that the file stores as they are read stay in the file's
 *        mapping instead (see `weight_binding`), which the model then keeps alive: `file` may
 *        be destroyed once this returns.
 */
template <class Model>
load_summary load_parameters(Model& model, const safetensors_file& file,
                             weight_type weights = default_weights<Model>,
                             weight_binding binding = weight_binding::in_place) {
    bool defer = false;
    if constexpr (requires { Model::transforms_weights_at_load; }) {
        defer = Model::transforms_weights_at_load;
    }
    parameter_loader loader(file, weights, defer, binding);
    model.visit_parameters(loader, std::string{});
    loader.finish();
    if constexpr (requires { model.finish_loading(); }) {
        model.finish_loading();
    }
    loader.run_after_loading();
    return {loader.loaded_tensors(), loader.in_place_bytes()};
}

/**
 * @brief Packs every linear layer of a model whose weights were set by other means than
 *        `load_parameters` (filled by hand, or by a visitor of one's own): the layout
 *        `load_parameters` leaves them in. Call it after any load-time transform of the model.
 */
template <class Model>
void pack_weights(Model& model, weight_type weights = default_weights<Model>) {
    detail::weight_packer p;
    model.visit_parameters(p, std::string{});
    p.run(weights);
}

/** @brief Counts the elements of every parameter a module visits (a visitor). */
struct parameter_counter {
    std::size_t tensors = 0;
    std::size_t elements = 0;
    template <class T, tensor_shape S>
    void parameter(const std::string&, tensor_view<T, S> v) {
        ++tensors;
        elements += v.size();
    }
    void ignore(const std::string&) {}
};

} // namespace ctt
