// A random parameter filler that also keeps every tensor by name (of any rank, row-major), so
// that a test can feed a scalar composition written from a model's definition the same weights.
#pragma once

#include <ctt/core/tensor_view.hpp>

#include <map>
#include <string>
#include <vector>

#include "random_model.hpp"

namespace ctt::test {

struct recording_filler {
    random_filler random;
    std::map<std::string, std::vector<float>> tensors;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        random.parameter(name, v);
        tensors[name].assign(v.data(), v.data() + v.size());
    }
    void ignore(const std::string&) {}
};

} // namespace ctt::test
