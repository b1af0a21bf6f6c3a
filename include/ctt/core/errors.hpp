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

} // namespace ctt
