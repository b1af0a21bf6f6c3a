#pragma once
/**
 * @file
 * @brief The exceptions ctt throws. Bad input is reported, never undefined behaviour.
 */

#include <stdexcept>
#include <string>

namespace ctt {

/// A runtime extent does not match what an operation needs (see `shape_messages.hpp`).
class shape_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A file, tensor name, dtype or configuration could not be read as ctt expects.
class io_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A value is outside what an operation accepts (a token id past the vocabulary, say).
class value_error : public std::out_of_range {
public:
    using std::out_of_range::out_of_range;
};

namespace detail {

/// Concatenates the parts of an error message by appending each (`const char*`, `std::string`,
/// `char`). Messages are built this way rather than as `"text " + std::to_string(n)`, which
/// makes GCC 12 warn falsely under -Wrestrict in some inlining contexts (GCC PR 105329).
template <class... Parts>
[[nodiscard]] std::string message(const Parts&... parts) {
    std::string text;
    ((text += parts), ...);
    return text;
}

} // namespace detail

} // namespace ctt
