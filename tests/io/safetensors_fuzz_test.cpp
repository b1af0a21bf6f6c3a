// Deterministic fuzzing of the safetensors reader: thousands of mutants of valid files (one
// written here, one golden checkpoint) and of hostile headers. Each is opened from memory and,
// when it opens, every tensor is read. The only exception allowed out is ctt::io_error.
// CTT_FUZZ_ITERATIONS (environment) overrides the number of mutants per seed file.

#include <ctt/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <nlohmann/json.hpp>

using ctt::io_error;
using ctt::safetensors_file;

namespace {

using bytes = std::vector<std::byte>;
using json = nlohmann::json;

bytes frame(const std::string& header, const bytes& buffer) {
    bytes out(8);
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) {
        out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    }
    for (char c : header) {
        out.push_back(static_cast<std::byte>(c));
    }
    out.insert(out.end(), buffer.begin(), buffer.end());
    return out;
}

std::uint64_t header_length(const bytes& file) {
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) {
        n |= std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(i)]) << (8 * i);
    }
    return n;
}

void set_header_length(bytes& file, std::uint64_t n) {
    for (int i = 0; i < 8; ++i) {
        file[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    }
}

/// A small valid file with every dtype, a scalar, an empty tensor and metadata.
bytes handmade_file() {
    json header;
    header["__metadata__"] = {{"format", "pt"}, {"note", "fuzz seed"}};
    bytes buffer;
    std::mt19937 fill(7);
    const auto add = [&](const std::string& name, const char* dtype, std::vector<int> shape,
                         std::size_t elem) {
        std::size_t n = elem;
        for (int e : shape) {
            n *= static_cast<std::size_t>(e);
        }
        header[name] = {{"dtype", dtype},
                        {"shape", shape},
                        {"data_offsets", {buffer.size(), buffer.size() + n}}};
        for (std::size_t i = 0; i < n; ++i) {
            // Small values, so that integer tensors also fit int32 and BOOL bytes are 0/1.
            const bool is_bool = std::string(dtype) == "BOOL";
            buffer.push_back(static_cast<std::byte>(is_bool ? fill() % 2 : fill() % 256));
        }
    };
    add("w.f64", "F64", {2, 3}, 8);
    add("w.f32", "F32", {3, 4}, 4);
    add("w.f16", "F16", {5}, 2);
    add("w.bf16", "BF16", {2, 2, 2}, 2);
    add("ids.i64", "I64", {3}, 8);
    add("ids.i32", "I32", {2, 2}, 4);
    add("ids.i16", "I16", {3}, 2);
    add("ids.i8", "I8", {4}, 1);
    add("ids.u8", "U8", {4}, 1);
    add("mask", "BOOL", {6}, 1);
    add("scalar", "F32", {}, 4);
    add("empty", "F32", {0, 7}, 4);
    // I64 values from random bytes rarely fit int32: make them small.
    const std::size_t i64_begin = header["ids.i64"]["data_offsets"][0].get<std::size_t>();
    for (std::size_t i = 0; i < 24; ++i) {
        buffer[i64_begin + i] = i % 8 == 0 ? std::byte{5} : std::byte{0};
    }
    return frame(header.dump(), buffer);
}

bytes read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

class mutator {
public:
    explicit mutator(std::uint32_t seed)
        : rng_(seed) {}

    /// Uniform in [0, n); n > 0. (Modulo keeps the sequence identical across standard libraries.)
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_()) % n; }
    bool coin() { return pick(2) == 0; }

    bytes mutate(const bytes& seed) {
        switch (pick(7)) {
        case 0:
            return truncate(seed);
        case 1:
            return flip_header_bytes(seed);
        case 2:
            return rewrite_length(seed);
        case 3:
            return splice_tokens(seed);
        case 4:
            return hostile_entry(seed);
        case 5:
            return hostile_header(seed);
        default:
            return flip_buffer_bytes(seed);
        }
    }

private:
    std::size_t header_end(const bytes& seed) const {
        return 8 + static_cast<std::size_t>(header_length(seed));
    }

    bytes truncate(const bytes& seed) {
        // Half of the cuts land inside the prefix or the header, where parsing happens.
        const std::size_t limit = coin() ? header_end(seed) + 1 : seed.size();
        return bytes(seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(pick(limit)));
    }

    bytes flip_header_bytes(const bytes& seed) {
        bytes out = seed;
        const std::size_t flips = 1 + pick(8);
        for (std::size_t i = 0; i < flips; ++i) {
            std::byte& b = out[pick(header_end(seed))];
            b = coin() ? static_cast<std::byte>(pick(256))
                       : b ^ static_cast<std::byte>(1 << pick(8));
        }
        return out;
    }

    bytes flip_buffer_bytes(const bytes& seed) {
        // Data bytes never make a file invalid, but they reach every conversion (NaN payloads,
        // BOOL bytes other than 0/1, I64 values outside int32).
        bytes out = seed;
        const std::size_t begin = header_end(seed);
        if (begin < out.size()) {
            for (std::size_t i = 0, n = 1 + pick(64); i < n; ++i) {
                out[begin + pick(out.size() - begin)] = static_cast<std::byte>(pick(256));
            }
        }
        return out;
    }

    bytes rewrite_length(const bytes& seed) {
        bytes out = seed;
        const std::uint64_t n = header_length(seed);
        const std::uint64_t choices[] = {0,
                                         1,
                                         7,
                                         n - 1,
                                         n + 1,
                                         seed.size() - 8,
                                         seed.size() - 7,
                                         seed.size(),
                                         ctt::safetensors_file::max_header_bytes,
                                         ctt::safetensors_file::max_header_bytes + 1,
                                         std::uint64_t{1} << 32,
                                         std::uint64_t{1} << 63,
                                         ~std::uint64_t{0},
                                         ~std::uint64_t{0} - 7,
                                         (static_cast<std::uint64_t>(rng_()) << 32) | rng_(),
                                         pick(seed.size() + 16)};
        set_header_length(out, choices[pick(std::size(choices))]);
        return out;
    }

    bytes splice_tokens(const bytes& seed) {
        static const std::string tokens[] = {
            "{",         "}",       "[",     "]",       "\"",         ",",
            ":",         "-",       "1e400", "-0",      "0.5",        "18446744073709551616",
            "null",      "true",    "\\u",   "\\ud800", "\xff\xfe",   std::string("\0", 1),
            "\"dtype\"", "\"F16\"", "[]",    "{}",      "[-1]",       "\"__metadata__\"",
            "/*",        "\n",      "9999",  "[0, 0]",  "\"shape\":", "\"data_offsets\":"};
        const bytes::const_iterator header_begin = seed.begin() + 8;
        const std::size_t length = header_end(seed) - 8;
        std::string header(reinterpret_cast<const char*>(&*header_begin), length);
        const std::size_t edits = 1 + pick(4);
        for (std::size_t i = 0; i < edits; ++i) {
            const std::size_t at = pick(header.size() + 1);
            const std::string& token = tokens[pick(std::size(tokens))];
            if (coin()) {
                header.insert(at, token);
            } else {
                header.replace(at, std::min(token.size(), header.size() - at), token);
            }
        }
        return frame(header, bytes(seed.begin() + static_cast<std::ptrdiff_t>(header_end(seed)),
                                   seed.end()));
    }

    json hostile_value() {
        switch (pick(16)) {
        case 0:
            return -1;
        case 1:
            return -9223372036854775807LL - 1;
        case 2:
            return ~std::uint64_t{0};
        case 3:
            return std::uint64_t{1} << 62;
        case 4:
            return 2.5;
        case 5:
            return 1e300;
        case 6:
            return "12";
        case 7:
            return nullptr;
        case 8:
            return json::array();
        case 9:
            return json::object();
        case 10:
            return true;
        case 11:
            return json::array({1, 2, 3});
        case 12:
            return 0;
        case 13:
            return static_cast<std::uint64_t>(pick(100000));
        case 14:
            return 4294967296ULL;
        default:
            return json::array({json::array({1})});
        }
    }

    /// Replaces one field of one entry of a valid header with something hostile.
    bytes hostile_entry(const bytes& seed) {
        const std::size_t end = header_end(seed);
        json header = json::parse(reinterpret_cast<const char*>(seed.data() + 8),
                                  reinterpret_cast<const char*>(seed.data() + end));
        const bytes buffer(seed.begin() + static_cast<std::ptrdiff_t>(end), seed.end());
        std::vector<std::string> names;
        for (const auto& [k, v] : header.items()) {
            names.push_back(k);
        }
        const std::string name = names[pick(names.size())];
        json& e = header[name];
        const std::uint64_t size = buffer.size();
        if (name == "__metadata__") {
            e[coin() ? "format" : "new"] = hostile_value();
        } else {
            switch (pick(12)) {
            case 0:
                e["shape"][pick(e["shape"].size() + 1)] = hostile_value();
                break;
            case 1:
                e["shape"] = hostile_value();
                break;
            case 2:
                e["data_offsets"][pick(2)] = hostile_value();
                break;
            case 3:
                e["data_offsets"] = {size, size + 4};
                break; // past the end
            case 4: {
                const json other = header[names[pick(names.size())]];
                if (other.contains("data_offsets")) {
                    e["data_offsets"] = other["data_offsets"]; // overlap (or itself)
                    e["shape"] = other["shape"];
                    e["dtype"] = other["dtype"];
                }
                break;
            }
            case 5: {
                static const char* const dtypes[] = {"F64",     "F32", "F16", "BF16", "I64",
                                                     "I32",     "I16", "I8",  "U8",   "BOOL",
                                                     "F8_E4M3", "f32", "",    "C64"};
                e["dtype"] = dtypes[pick(std::size(dtypes))];
                break;
            }
            case 6:
                e["shape"] = {std::uint64_t{1} << 32, std::uint64_t{1} << 32, 16};
                break;
            case 7:
                e["shape"] = {~std::uint64_t{0}, 0};
                break;
            case 8:
                e.erase(coin() ? "dtype" : (coin() ? "shape" : "data_offsets"));
                break;
            case 9:
                e = hostile_value();
                break;
            case 10: {
                // A consistent but different shape (same byte count): valid, must still read.
                const std::uint64_t n = e["data_offsets"][1].get<std::uint64_t>() -
                                        e["data_offsets"][0].get<std::uint64_t>();
                e["shape"] = {n};
                e["dtype"] = "U8";
                break;
            }
            default:
                header[name + "_copy"] = e;
                break; // aliases the same bytes
            }
        }
        return frame(header.dump(), buffer);
    }

    /// Headers written by hand to be nasty, over a random buffer size.
    bytes hostile_header(const bytes& seed) {
        const std::size_t depth = 1 + pick(3000);
        std::string deep_arrays = std::string(depth, '[') + std::string(depth, ']');
        std::string deep_objects;
        for (std::size_t i = 0; i < depth; ++i) {
            deep_objects += "{\"a\":";
        }
        deep_objects += "1" + std::string(depth, '}');
        const std::string long_name(5000 + pick(5000), 'n');
        const std::string headers[] = {
            deep_arrays,
            deep_objects,
            R"({"a": {"dtype": "F32", "shape": [)" + deep_arrays + R"(], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "F32", "shape": [1e999999], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "F32", "shape": [-0], "data_offsets": [0, 0]}})",
            R"({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "F32", "shape": [99999999999999999999999], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "U8", "shape": [65536, 65536, 65536, 65536, 2], "data_offsets": [0, 0]}})",
            R"({"a": {"dtype": "U8", "shape": [4294967296, 4294967297], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551615, 3]}})",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 18446744073709551615]}})",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}})",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
            R"({"a": {"dtype": "F32", "shape": ["1"], "data_offsets": ["0", "4"]}})",
            R"({"a": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}})",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": {"begin": 0, "end": 4}}})",
            R"({"__metadata__": {"a": {"b": "c"}}})",
            R"({"__metadata__": null})",
            R"({"__metadata__": {"a": "\ud800"}})",
            R"({"": {"dtype": "BOOL", "shape": [], "data_offsets": [0, 1]}})",
            "{\"" + long_name + R"(": {"dtype": "F32", "shape": [7], "data_offsets": [0, 4]}})",
            std::string("{\"a\0\": 1}", 9),
            std::string("{\"a\": \"\xc3\x28\"}"),
            "{}" + std::string(pick(64), ' '),
            std::string(pick(64), ' ') + "{}",
            "",
            "null",
            "{",
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "data_offsets": [0, 4]}})",
        };
        const std::string& h = headers[pick(std::size(headers))];
        (void)seed;
        return frame(h, bytes(pick(5) == 0 ? 0 : pick(64)));
    }

    std::mt19937 rng_;
};

struct outcome {
    std::size_t opened = 0;
    std::size_t rejected = 0;
    std::size_t read_errors = 0;
};

/// Opens `file` and reads everything; returns false when anything but io_error escaped.
bool exercise(const bytes& file, outcome& counts, std::string& failure) {
    try {
        const auto f = safetensors_file::from_bytes(file, "mutant");
        ++counts.opened;
        (void)f.metadata();
        for (const std::string& name : f.names()) {
            const ctt::tensor_info& t = f.info(name);
            (void)f.raw_bytes(name);
            try {
                if (ctt::is_floating(t.type)) {
                    (void)f.load_floats(name);
                } else {
                    (void)f.load_vector<std::int64_t>(name);
                    (void)f.load_ints(name);
                }
            } catch (const io_error&) {
                ++counts.read_errors;
            }
        }
        return true;
    } catch (const io_error&) {
        ++counts.rejected;
        return true;
    } catch (const std::exception& e) {
        failure = std::string(typeid(e).name()) + ": " + e.what();
    } catch (...) {
        failure = "an exception that is not a std::exception";
    }
    return false;
}

std::size_t iterations() {
    if (const char* env = std::getenv("CTT_FUZZ_ITERATIONS")) {
        return static_cast<std::size_t>(std::strtoull(env, nullptr, 10));
    }
    return 2500;
}

void fuzz(const bytes& seed, std::uint32_t rng_seed) {
    REQUIRE_NOTHROW((void)safetensors_file::from_bytes(seed));
    mutator m(rng_seed);
    outcome counts;
    const std::size_t n = iterations();
    for (std::size_t i = 0; i < n; ++i) {
        const bytes mutant = m.mutate(seed);
        std::string failure;
        if (!exercise(mutant, counts, failure)) {
            FAIL_CHECK("mutant " << i << " (seed " << rng_seed << ") threw " << failure);
        }
    }
    MESSAGE(n << " mutants: " << counts.opened << " opened, " << counts.rejected << " rejected, "
              << counts.read_errors << " reads refused");
    CHECK(counts.opened > n / 20); // the mutants reach the readers, not only the parser
    CHECK(counts.rejected > n / 4);
}

} // namespace

TEST_CASE("fuzz: mutants of a handmade file") {
    fuzz(handmade_file(), 20240601u);
}

TEST_CASE("fuzz: mutants of a golden checkpoint") {
    fuzz(read_file(std::filesystem::path(CTT_TEST_DATA_DIR) / "hf/bert/model.safetensors"), 777u);
}
