#pragma once
/**
 * @file
 * @brief Writes safetensors files: the 8-byte little-endian header length, the JSON header
 *        (`dtype`, `shape`, `data_offsets` per tensor, optional `__metadata__` strings), padded
 *        with spaces to a multiple of 8 bytes, then the tensors' bytes back to back in the
 *        order they were added.
 *
 * Tensors are added with their values (floating point, stored as F64, F32, F16 or BF16 with
 * round-to-nearest-even; integers as I64, I32, I16, I8, U8 or BOOL) or with a function that
 * produces them when the file is written, so a multi-gigabyte checkpoint streams to disk
 * without being held in memory. `safetensors_file` reads back every file this writes.
 */

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/io/half.hpp"
#include "ctt/io/safetensors.hpp"

namespace ctt {

/** @brief Builds a safetensors file tensor by tensor; see the file comment. */
class safetensors_writer {
public:
    /// Fills `out` (the tensor's elements, row-major) when the file is written.
    using float_source = std::function<void(std::span<float> out)>;

    /// Adds floating-point `values` of `shape`, stored as `type` (F64, F32, F16 or BF16).
    void add(std::string name, std::vector<index_t> shape, std::span<const float> values,
             dtype type = dtype::f32) {
        check_count(name, shape, values.size());
        add_floats(std::move(name), std::move(shape), type,
                   [v = std::vector<float>(values.begin(), values.end())](std::span<float> out) {
                       std::copy(v.begin(), v.end(), out.begin());
                   });
    }

    /// Adds a view's elements under its shape.
    template <class T, tensor_shape S>
    requires(std::is_same_v<std::remove_const_t<T>, float>) void add(std::string name,
                                                                     tensor_view<T, S> view,
                                                                     dtype type = dtype::f32) {
        std::vector<index_t> shape(S::rank);
        for (index_t i = 0; i < S::rank; ++i) {
            shape[i] = view.extent(i);
        }
        std::vector<float> values;
        values.reserve(view.size());
        append(view, values);
        add(std::move(name), std::move(shape), values, type);
    }

    /// Adds integer `values` of `shape`, stored as `type` (I64, I32, I16, I8, U8 or BOOL).
    void add(std::string name, std::vector<index_t> shape, std::span<const std::int64_t> values,
             dtype type = dtype::i64) {
        check_count(name, shape, values.size());
        if (is_floating(type)) {
            fail(name, "integer values cannot be stored as " + std::string(dtype_name(type)));
        }
        for (const auto v : values) {
            if (!fits(v, type)) {
                fail(name, "the value " + std::to_string(v) + " does not fit " +
                               std::string(dtype_name(type)));
            }
        }
        entry e{std::move(name),
                std::move(shape),
                type,
                {},
                std::vector<std::int64_t>(values.begin(), values.end())};
        push(std::move(e));
    }

    /// Adds floating-point values produced by `source` when the file is written.
    void add_floats(std::string name, std::vector<index_t> shape, dtype type, float_source source) {
        if (!is_floating(type)) {
            fail(name,
                 "floating-point values cannot be stored as " + std::string(dtype_name(type)));
        }
        entry e{std::move(name), std::move(shape), type, std::move(source), {}};
        push(std::move(e));
    }

    /// A `__metadata__` string (HF writes `{"format": "pt"}`).
    void set_metadata(std::string key, std::string value) {
        metadata_[std::move(key)] = std::move(value);
    }

    /// The file's bytes (the whole file in memory: for small files and tests).
    [[nodiscard]] std::vector<std::byte> bytes() const {
        std::vector<std::byte> out;
        emit([&out](const void* p, std::size_t n) {
            const auto* b = static_cast<const std::byte*>(p);
            out.insert(out.end(), b, b + n);
        });
        return out;
    }

    /// Writes the file to `path`, streaming one tensor at a time.
    void write(const std::filesystem::path& path) const {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw io_error("safetensors_writer: cannot create " + path.string());
        }
        emit([&out](const void* p, std::size_t n) {
            out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
        });
        out.close();
        if (!out) {
            throw io_error("safetensors_writer: writing " + path.string() + " failed");
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    /// Bytes of tensor data (the file less its header).
    [[nodiscard]] std::uint64_t data_bytes() const {
        std::uint64_t n = 0;
        for (const auto& e : entries_) {
            n += static_cast<std::uint64_t>(e.count()) * dtype_size(e.type);
        }
        return n;
    }

private:
    struct entry {
        std::string name;
        std::vector<index_t> shape;
        dtype type;
        float_source floats;                // floating-point tensors
        std::vector<std::int64_t> integers; // integer tensors
        [[nodiscard]] index_t count() const {
            index_t n = 1;
            for (const auto e : shape) {
                n *= e;
            }
            return n;
        }
    };

    [[noreturn]] static void fail(const std::string& name, const std::string& what) {
        throw value_error("safetensors_writer: tensor '" + name + "': " + what);
    }

    static void check_count(const std::string& name, const std::vector<index_t>& shape,
                            std::size_t count) {
        index_t n = 1;
        for (const auto e : shape) {
            n *= e;
        }
        if (n != count) {
            fail(name, "the shape holds " + std::to_string(n) + " elements but " +
                           std::to_string(count) + " values were given");
        }
    }

    static bool fits(std::int64_t v, dtype t) {
        switch (t) {
        case dtype::i32:
            return v >= std::numeric_limits<std::int32_t>::min() &&
                   v <= std::numeric_limits<std::int32_t>::max();
        case dtype::i16:
            return v >= std::numeric_limits<std::int16_t>::min() &&
                   v <= std::numeric_limits<std::int16_t>::max();
        case dtype::i8:
            return v >= -128 && v <= 127;
        case dtype::u8:
            return v >= 0 && v <= 255;
        case dtype::boolean:
            return v == 0 || v == 1;
        default:
            return true;
        }
    }

    void push(entry e) {
        if (e.name.empty() || e.name == "__metadata__") {
            fail(e.name, "the name is reserved or empty");
        }
        if (!names_.insert(e.name).second) {
            fail(e.name, "added twice");
        }
        entries_.push_back(std::move(e));
    }

    template <class T, tensor_shape S>
    static void append(tensor_view<T, S> v, std::vector<float>& out) {
        if constexpr (S::rank == 0) {
            out.push_back(*v.data());
        } else if constexpr (S::rank == 1) {
            for (index_t i = 0; i < v.size(); ++i) {
                out.push_back(v[i]);
            }
        } else {
            for (index_t i = 0; i < v.extent(0); ++i) {
                append(v[i], out);
            }
        }
    }

    /// The header, padded with spaces to a multiple of 8 bytes.
    [[nodiscard]] std::string header() const {
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        if (!metadata_.empty()) {
            h["__metadata__"] = metadata_;
        }
        std::size_t offset = 0;
        for (const auto& e : entries_) {
            const std::size_t bytes = e.count() * dtype_size(e.type);
            h[e.name] = {{"dtype", std::string(dtype_name(e.type))},
                         {"shape", e.shape},
                         {"data_offsets", {offset, offset + bytes}}};
            offset += bytes;
        }
        std::string text = h.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        return text;
    }

    template <class Sink>
    void emit(Sink&& sink) const {
        const std::string h = header();
        std::uint8_t length[8];
        const auto n = static_cast<std::uint64_t>(h.size());
        for (int i = 0; i < 8; ++i) {
            length[i] = static_cast<std::uint8_t>(n >> (8 * i));
        }
        sink(length, 8);
        sink(h.data(), h.size());
        std::vector<float> values;
        std::vector<std::uint8_t> encoded;
        for (const auto& e : entries_) {
            const index_t count = e.count();
            const std::size_t width = dtype_size(e.type);
            encoded.assign(count * width, 0);
            if (is_floating(e.type)) {
                values.assign(count, 0.f);
                e.floats(std::span<float>(values));
                for (index_t i = 0; i < count; ++i) {
                    encode_float(values[i], e.type, encoded.data() + i * width);
                }
            } else {
                for (index_t i = 0; i < count; ++i) {
                    encode_integer(e.integers[i], width, encoded.data() + i * width);
                }
            }
            sink(encoded.data(), encoded.size());
        }
    }

    static void little_endian(std::uint64_t bits, std::size_t width, std::uint8_t* out) {
        for (std::size_t b = 0; b < width; ++b) {
            out[b] = static_cast<std::uint8_t>(bits >> (8 * b));
        }
    }

    static void encode_float(float v, dtype t, std::uint8_t* out) {
        switch (t) {
        case dtype::f64: {
            const double d = v;
            std::uint64_t bits = 0;
            std::memcpy(&bits, &d, 8);
            little_endian(bits, 8, out);
            return;
        }
        case dtype::f32: {
            std::uint32_t bits = 0;
            std::memcpy(&bits, &v, 4);
            little_endian(bits, 4, out);
            return;
        }
        case dtype::f16:
            little_endian(float_to_fp16(v), 2, out);
            return;
        default:
            little_endian(float_to_bf16(v), 2, out);
            return;
        }
    }

    static void encode_integer(std::int64_t v, std::size_t width, std::uint8_t* out) {
        little_endian(static_cast<std::uint64_t>(v), width, out);
    }

    std::vector<entry> entries_;
    std::set<std::string> names_;
    std::map<std::string, std::string> metadata_;
};

} // namespace ctt
