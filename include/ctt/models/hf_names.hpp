#pragma once
/**
 * @file
 * @brief Hugging Face parameter names as data: a pattern per role (`"h.{}.attn.c_attn"`, `{}`
 *        for the layer index, `|` between the older and newer names of one tensor), an optional
 *        base-model prefix accepted with or without, and the binder that resolves them against
 *        what a checkpoint holds.
 *
 * A family's table says *where* each tensor lives; the model's blocks say *what* they hold
 * (`weight`, `bias`) through the `visit_parameters` protocol of `io/parameter_loader.hpp`.
 */

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

namespace detail {

/// `pattern` with every `{}` replaced by `index`.
[[nodiscard]] inline std::string expand_name(std::string_view pattern, index_t index) {
    std::string out;
    out.reserve(pattern.size() + 4);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{' && i + 1 < pattern.size() && pattern[i + 1] == '}') {
            out += std::to_string(index);
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

/// `pattern` with every `{e}` replaced by `expert` (the layer's `{}` is left for the binder).
[[nodiscard]] inline std::string expand_expert(std::string_view pattern, index_t expert) {
    std::string out(pattern);
    for (std::size_t at = out.find("{e}"); at != std::string::npos; at = out.find("{e}", at)) {
        out.replace(at, 3, std::to_string(expert));
    }
    return out;
}

/// The alternatives of `a|b|c` (a single name when there is no `|`).
[[nodiscard]] inline std::vector<std::string_view> name_alternatives(std::string_view pattern) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t bar = pattern.find('|', start);
        out.push_back(pattern.substr(start, bar == std::string_view::npos ? bar : bar - start));
        if (bar == std::string_view::npos) {
            return out;
        }
        start = bar + 1;
    }
}

/// The words of a space-separated list.
[[nodiscard]] inline std::vector<std::string_view> name_words(std::string_view list) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start < list.size()) {
        const std::size_t end = std::min(list.find(' ', start), list.size());
        if (end > start) {
            out.push_back(list.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

/// Whether a visitor can tell which names its source holds (`parameter_loader` can).
template <class V>
concept name_aware_visitor = requires(const V& v, std::string_view name) {
    { v.contains(name) } -> std::convertible_to<bool>;
};

} // namespace detail

/**
 * @brief Binds tensors and modules under HF name patterns for one visitor.
 *
 * A name is a *scope* (a pattern such as a layer's `"h.{}."`) followed by a *pattern* whose `|`
 * alternatives are tried in order. Each is tried as `prefix + base + name` and then as
 * `prefix + name` (a checkpoint of the bare base model, or one saved without it); a pattern
 * that starts with `^` sits outside the base model (`"^lm_head"`) and is tried as
 * `prefix + name` only. The first form the checkpoint holds is bound. A visitor that cannot tell
 * (a parameter counter) gets the first form, which is also the name an error reports when the
 * checkpoint holds none. An empty pattern means the family has no such tensor.
 */
template <class Visitor>
class hf_binder {
public:
    hf_binder(Visitor& v, std::string prefix, std::string_view base)
        : v_(v)
        , prefix_(std::move(prefix))
        , base_(base) {}

    /// The full names `scope + pattern` may stand for, in the order they are tried.
    [[nodiscard]] std::vector<std::string>
    candidates(std::string_view scope, std::string_view pattern, index_t index) const {
        std::vector<std::string> out;
        for (auto alternative : detail::name_alternatives(pattern)) {
            const bool top_level = !alternative.empty() && alternative.front() == '^';
            if (top_level) {
                alternative.remove_prefix(1);
            }
            const std::string name =
                detail::expand_name(std::string(scope) + std::string(alternative), index);
            if (!top_level && !base_.empty()) {
                out.push_back(prefix_ + std::string(base_) + name);
            }
            out.push_back(prefix_ + name);
        }
        return out;
    }

    /// The name `scope + pattern` resolves to for `index`; `leaf` is the tensor looked up under
    /// it (`"weight"` for a module) and is appended.
    [[nodiscard]] std::string resolve(std::string_view scope, std::string_view pattern,
                                      index_t index, std::string_view leaf = {}) const {
        const auto names = candidates(scope, pattern, index);
        const auto full = [&](const std::string& name) {
            return leaf.empty() ? name : name + "." + std::string(leaf);
        };
        if constexpr (detail::name_aware_visitor<Visitor>) {
            for (const auto& name : names) {
                if (v_.contains(full(name))) {
                    return full(name);
                }
            }
        }
        return full(names.front());
    }

    /// Binds a block (`visit_parameters(v, prefix)`) under `scope + pattern`.
    template <class Module>
    void module(std::string_view scope, std::string_view pattern, Module& m, index_t index = 0) {
        if (pattern.empty()) {
            return;
        }
        std::string name = resolve(scope, pattern, index, "weight");
        name.resize(name.size() - 6); // keep the trailing '.'
        m.visit_parameters(v_, name);
    }

    /// Binds one tensor, `scope + pattern` followed by `.leaf` when a leaf is given.
    template <class T, tensor_shape S>
    void tensor(std::string_view scope, std::string_view pattern, tensor_view<T, S> view,
                index_t index = 0, std::string_view leaf = {}) {
        if (pattern.empty()) {
            return;
        }
        v_.parameter(resolve(scope, pattern, index, leaf), view);
    }

    /// Accepts every form of each name of a space-separated list without reading it.
    void ignore(std::string_view scope, std::string_view list, index_t index = 0) {
        for (const auto word : detail::name_words(list)) {
            for (const auto& name : candidates(scope, word, index)) {
                v_.ignore(name);
            }
        }
    }

private:
    Visitor& v_;
    std::string prefix_;
    std::string_view base_;
};

} // namespace ctt
