#include <ctt/io/half.hpp>
#include <ctt/io/safetensors.hpp>

#include "../support/golden_case.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using ctt::dyn;
using ctt::io_error;
using ctt::safetensors_file;
using ctt::shape;
using ctt::tensor;

static_assert(std::endian::native == std::endian::little, "the test writer emits host order");

namespace {

using bytes = std::vector<std::byte>;

/// One tensor for the test writer: stored bytes as given, offsets computed.
struct entry {
    std::string name;
    std::string dtype;
    std::vector<std::uint64_t> shape;
    bytes data;
};

template <class T>
bytes bytes_of(std::initializer_list<T> values) {
    bytes out(values.size() * sizeof(T));
    std::memcpy(out.data(), std::data(values), out.size());
    return out;
}

bytes frame(const std::string& header, const bytes& buffer) {
    bytes out(8);
    const std::uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    for (char c : header) {
        out.push_back(static_cast<std::byte>(c));
    }
    out.insert(out.end(), buffer.begin(), buffer.end());
    return out;
}

/// A minimal safetensors writer: tensors packed in order, optional metadata.
bytes write_file(const std::vector<entry>& entries, const nlohmann::json& metadata = nullptr) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.is_null()) {
        header["__metadata__"] = metadata;
    }
    bytes buffer;
    for (const entry& e : entries) {
        header[e.name] = {{"dtype", e.dtype},
                          {"shape", e.shape},
                          {"data_offsets", {buffer.size(), buffer.size() + e.data.size()}}};
        buffer.insert(buffer.end(), e.data.begin(), e.data.end());
    }
    return frame(header.dump(), buffer);
}

/// A file whose header is given verbatim, followed by `buffer_bytes` zero bytes.
bytes raw_file(const std::string& header, std::size_t buffer_bytes) {
    return frame(header, bytes(buffer_bytes));
}

std::string error_of(const bytes& file) {
    try {
        (void)safetensors_file::from_bytes(file, "test.safetensors");
    } catch (const io_error& e) {
        return e.what();
    }
    return "<no error>";
}

bool mentions(const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
}

std::filesystem::path data_dir() {
    return CTT_TEST_DATA_DIR;
}

} // namespace

TEST_CASE("fp16 widening is exact for every bit pattern") {
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        const float f = ctt::fp16_to_float(bits);
        const int exponent = (h >> 10) & 0x1f;
        const int mantissa = h & 0x3ff;
        const float sign = (h & 0x8000) ? -1.f : 1.f;
        if (exponent == 0x1f) {
            CHECK((mantissa == 0 ? std::isinf(f) : std::isnan(f)));
            if (mantissa != 0) {
                CHECK(ctt::float_to_fp16(f) == (bits | 0x0200)); // quieted, payload kept
            }
            continue;
        }
        const float expected = exponent == 0
                                   ? sign * std::ldexp(static_cast<float>(mantissa), -24)
                                   : sign * std::ldexp(1.f + mantissa / 1024.f, exponent - 15);
        REQUIRE(std::bit_cast<std::uint32_t>(f) == std::bit_cast<std::uint32_t>(expected));
        REQUIRE(ctt::float_to_fp16(f) == bits); // narrowing inverts widening
    }
    CHECK(ctt::fp16_to_float(0x3c00) == 1.f);
    CHECK(ctt::fp16_to_float(0x7bff) == 65504.f);
    CHECK(ctt::fp16_to_float(0x0001) == std::ldexp(1.f, -24));
    CHECK(std::signbit(ctt::fp16_to_float(0x8000)));
}

TEST_CASE("fp16 narrowing rounds to nearest even") {
    CHECK(ctt::float_to_fp16(65519.f) == 0x7bff);
    CHECK(ctt::float_to_fp16(65520.f) == 0x7c00);
    CHECK(ctt::float_to_fp16(-1e10f) == 0xfc00);
    CHECK(ctt::float_to_fp16(1.f + std::ldexp(1.f, -11)) == 0x3c00);     // tie, down to even
    CHECK(ctt::float_to_fp16(1.f + 3 * std::ldexp(1.f, -11)) == 0x3c02); // tie, up to even
    CHECK(ctt::float_to_fp16(std::ldexp(1.f, -25)) == 0x0000);           // subnormal tie
    CHECK(ctt::float_to_fp16(std::ldexp(3.f, -25)) == 0x0002);
    CHECK(ctt::float_to_fp16(std::ldexp(1.f, -26)) == 0x0000);
    CHECK(ctt::float_to_fp16(std::ldexp(1023.5f, -24)) == 0x0400); // carries into the normals
    CHECK(ctt::float_to_fp16(std::numeric_limits<float>::denorm_min()) == 0x0000);
    CHECK(ctt::float_to_fp16(-0.f) == 0x8000);
}

TEST_CASE("bf16 conversions") {
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const auto bits = static_cast<std::uint16_t>(b);
        const float f = ctt::bf16_to_float(bits);
        REQUIRE(std::bit_cast<std::uint32_t>(f) == b << 16);
        if (!std::isnan(f)) {
            REQUIRE(ctt::float_to_bf16(f) == bits);
        } else {
            REQUIRE(std::isnan(ctt::bf16_to_float(ctt::float_to_bf16(f))));
        }
    }
    CHECK(ctt::float_to_bf16(1.f + std::ldexp(1.f, -8)) == 0x3f80);
    CHECK(ctt::float_to_bf16(1.f + 3 * std::ldexp(1.f, -8)) == 0x3f82);
    CHECK(ctt::float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80); // rounds to inf
}

TEST_CASE("every dtype converts on load") {
    const float inf = std::numeric_limits<float>::infinity();
    const bytes file = write_file({
        {"f64", "F64", {4}, bytes_of<double>({1.5, -2.25, 1e300, -1e-300})},
        {"f32", "F32", {2, 2}, bytes_of<float>({1.f, -2.f, 3.5f, inf})},
        {"f16", "F16", {5}, bytes_of<std::uint16_t>({0x3c00, 0xc000, 0x0001, 0x7c00, 0x7e00})},
        {"bf16", "BF16", {3}, bytes_of<std::uint16_t>({0x3f80, 0xc040, 0xff80})},
        {"i64", "I64", {3}, bytes_of<std::int64_t>({-5, 2147483647, -2147483648LL})},
        {"i32", "I32", {2}, bytes_of<std::int32_t>({7, -8})},
        {"i16", "I16", {2}, bytes_of<std::int16_t>({-32768, 32767})},
        {"i8", "I8", {2}, bytes_of<std::int8_t>({-128, 127})},
        {"u8", "U8", {2}, bytes_of<std::uint8_t>({0, 255})},
        {"bool", "BOOL", {3}, bytes_of<std::uint8_t>({1, 0, 1})},
        {"scalar", "F32", {}, bytes_of<float>({42.f})},
        {"empty", "F32", {0, 3}, {}},
    });
    const auto f = safetensors_file::from_bytes(file);
    CHECK(f.size() == 12);

    CHECK(f.load_floats("f64") == std::vector<float>{1.5f, -2.25f, inf, -0.f});
    CHECK(f.load_vector<double>("f64") == std::vector<double>{1.5, -2.25, 1e300, -1e-300});
    CHECK(f.load_floats("f32") == std::vector<float>{1.f, -2.f, 3.5f, inf});
    const auto h = f.load_floats("f16");
    CHECK(h[0] == 1.f);
    CHECK(h[1] == -2.f);
    CHECK(h[2] == std::ldexp(1.f, -24));
    CHECK(h[3] == inf);
    CHECK(std::isnan(h[4]));
    CHECK(f.load_floats("bf16") == std::vector<float>{1.f, -3.f, -inf});

    CHECK(f.load_ints("i64") == std::vector<std::int32_t>{-5, 2147483647, -2147483647 - 1});
    CHECK(f.load_ints("i32") == std::vector<std::int32_t>{7, -8});
    CHECK(f.load_ints("i16") == std::vector<std::int32_t>{-32768, 32767});
    CHECK(f.load_ints("i8") == std::vector<std::int32_t>{-128, 127});
    CHECK(f.load_ints("u8") == std::vector<std::int32_t>{0, 255});
    CHECK(f.load_ints("bool") == std::vector<std::int32_t>{1, 0, 1});
    CHECK(f.load_vector<std::int64_t>("i64")[2] == -2147483648LL);
    CHECK(f.load_vector<std::uint8_t>("u8")[1] == 255);

    CHECK(f.load_floats("scalar") == std::vector<float>{42.f});
    CHECK(f.info("scalar").shape.empty());
    CHECK(f.load_floats("empty").empty());
    CHECK(f.info("empty").element_count() == 0);

    const ctt::tensor_info& info = f.info("f16");
    CHECK(info.type == ctt::dtype::f16);
    CHECK(info.shape == std::vector<ctt::index_t>{5});
    CHECK(info.byte_size() == 10);
    CHECK(f.raw_bytes("f16").size() == 10);
    CHECK(ctt::dtype_size(ctt::dtype::bf16) == 2);
    CHECK(ctt::dtype_size(ctt::dtype::f64) == 8);
    CHECK(ctt::dtype_size(ctt::dtype::boolean) == 1);
    CHECK(ctt::dtype_from_name("BF16") == ctt::dtype::bf16);
    CHECK_FALSE(ctt::dtype_from_name("F8_E4M3").has_value());
    CHECK(f.contains("f32"));
    CHECK_FALSE(f.contains("f3"));
    CHECK(f.names().front() == "bf16"); // lexicographic
}

TEST_CASE("values that do not fit the destination, and dtype kinds that do not mix") {
    const bytes file = write_file({
        {"big", "I64", {2}, bytes_of<std::int64_t>({1, 1LL << 40})},
        {"neg", "I32", {1}, bytes_of<std::int32_t>({-1})},
        {"bad_bool", "BOOL", {2}, bytes_of<std::uint8_t>({1, 2})},
        {"x", "F32", {1}, bytes_of<float>({1.f})},
    });
    const auto f = safetensors_file::from_bytes(file, "ranges.safetensors");
    const std::string big = [&] {
        try {
            (void)f.load_ints("big");
        } catch (const io_error& e) {
            return std::string(e.what());
        }
        return std::string();
    }();
    CHECK(mentions(big, "'big'"));
    CHECK(mentions(big, "1099511627776"));
    CHECK(mentions(big, "element 1"));
    CHECK(mentions(big, "ranges.safetensors"));
    CHECK(f.load_vector<std::int64_t>("big")[1] == (1LL << 40));
    CHECK_THROWS_AS((void)f.load_vector<std::uint32_t>("neg"), io_error);
    CHECK_THROWS_AS((void)f.load_ints("bad_bool"), io_error);
    CHECK_THROWS_AS((void)f.load_ints("x"), io_error);
    CHECK_THROWS_AS((void)f.load_floats("neg"), io_error);
    CHECK_THROWS_WITH_AS((void)f.load_floats("nope"),
                         "safetensors: no tensor named 'nope' in ranges.safetensors", io_error);
}

TEST_CASE("shapes are checked against the destination") {
    std::vector<float> values(12);
    for (std::size_t i = 0; i < values.size(); ++i) {
        values[i] = static_cast<float>(i);
    }
    bytes data(values.size() * 4);
    std::memcpy(data.data(), values.data(), data.size());
    const auto f = safetensors_file::from_bytes(write_file({{"w", "F32", {3, 4}, data}}));

    const auto w = f.load<float>("w", shape<3, 4>{});
    CHECK(w(2, 3) == 11.f);
    const auto rows = f.load<float>("w", shape<dyn, 4>{3});
    CHECK(rows(1, 0) == 4.f);
    const auto deduced = f.load<float, shape<dyn, 4>>("w");
    CHECK(deduced.rows() == 3);
    CHECK(deduced(2, 1) == 9.f);

    try {
        (void)f.load<float>("w", shape<4, 3>{});
        FAIL("no error");
    } catch (const io_error& e) {
        CHECK(std::string(e.what()) ==
              "safetensors: tensor 'w' has shape [3, 4] but the destination has shape [4, 3] in "
              "<memory>");
    }
    CHECK_THROWS_AS((void)f.load<float>("w", shape<12>{}), io_error);
    CHECK_THROWS_AS((void)f.load<float>("w", shape<1, 3, 4>{}), io_error);
    CHECK_THROWS_AS((void)(f.load<float, shape<dyn, 5>>("w")), io_error);
    CHECK_THROWS_AS((void)(f.load<float, shape<dyn>>("w")), io_error);

    // A strided destination: columns 2..5 of a 3 x 8 matrix; the rest stays untouched.
    tensor<float, shape<3, 8>> big;
    big.fill(-1.f);
    f.read_into("w", big.view().cols<4>(2));
    for (ctt::index_t r = 0; r < 3; ++r) {
        for (ctt::index_t c = 0; c < 8; ++c) {
            const bool inside = c >= 2 && c < 6;
            CHECK(big(r, c) == (inside ? static_cast<float>(r * 4 + c - 2) : -1.f));
        }
    }
    // Every other row of a taller matrix (an outer stride of 2 rows).
    tensor<float, shape<6, 4>> tall;
    const ctt::tensor_view<float, shape<3, 4>> every_other(tall.data(), shape<3, 4>{}, {8, 1});
    f.read_into("w", every_other);
    CHECK(tall(4, 3) == 11.f);
    tensor<float, shape<3, 4>> owned;
    f.read_into("w", owned);
    CHECK(owned(1, 1) == 5.f);
    CHECK(tall(5, 3) == 0.f);
    // A strided rank-3 destination.
    tensor<float, shape<3, 2, 5>> cube;
    const ctt::tensor_view<float, shape<3, 2, 2>> inner(cube.data() + 1, shape<3, 2, 2>{},
                                                        {10, 5, 1});
    const auto f3 = safetensors_file::from_bytes(write_file({{"w", "F32", {3, 2, 2}, data}}));
    f3.read_into("w", inner);
    CHECK(cube(2, 1, 2) == 11.f);
    CHECK(cube(2, 1, 3) == 0.f);
    CHECK(cube(1, 0, 1) == 4.f);
}

TEST_CASE("metadata") {
    const auto f = safetensors_file::from_bytes(
        write_file({{"x", "F32", {1}, bytes_of<float>({1.f})}}, {{"format", "pt"}, {"k", "v"}}));
    CHECK(f.metadata().size() == 2);
    CHECK(f.metadata().at("format") == "pt");
    CHECK_FALSE(f.contains("__metadata__"));
    const auto plain = safetensors_file::from_bytes(write_file({}));
    CHECK(plain.metadata().empty());
    CHECK(plain.size() == 0);
}

TEST_CASE("golden files open and read") {
    const auto model = safetensors_file::open(data_dir() / "hf/bert/model.safetensors");
    const auto& wte = model.info("bert.embeddings.word_embeddings.weight");
    CHECK(wte.type == ctt::dtype::f32);
    CHECK(wte.shape == std::vector<ctt::index_t>{256, 64});
    const auto table =
        model.load<float>("bert.embeddings.word_embeddings.weight", shape<256, 64>{});
    CHECK(std::isfinite(table(255, 63)));
    CHECK(model.names().size() > 30);

    const auto io = safetensors_file::open(data_dir() / "hf/bert/io.safetensors");
    const auto ids = io.load_ints("input_ids");
    CHECK(ids.size() == 26);
    for (auto id : ids) {
        CHECK((id >= 0 && id < 256));
    }
    CHECK(io.info("hidden_states").shape == std::vector<ctt::index_t>{3, 2, 13, 64});

    // A file with an empty header ("{}" padded with spaces) and no tensors.
    const auto empty =
        safetensors_file::open(data_dir() / "kernels/sdpa_kernels/model.safetensors");
    CHECK(empty.size() == 0);

    // Every golden file validates and every tensor reads.
    for (const char* name : {"hf/bert", "hf/gpt2", "hf/llama", "hf/t5", "kernels/sdpa_kernels"}) {
        for (const char* file : {"model.safetensors", "io.safetensors"}) {
            const auto g = safetensors_file::open(data_dir() / name / file);
            for (const auto& n : g.names()) {
                if (ctt::is_floating(g.info(n).type)) {
                    CHECK(g.load_floats(n).size() == g.info(n).element_count());
                } else {
                    CHECK(g.load_ints(n).size() == g.info(n).element_count());
                }
            }
        }
    }
}

TEST_CASE("files that cannot be opened") {
    CHECK_THROWS_AS((void)safetensors_file::open(data_dir() / "no/such.safetensors"), io_error);
    CHECK_THROWS_AS((void)safetensors_file::open(data_dir()), io_error);
    const auto path = std::filesystem::temp_directory_path() / "ctt_safetensors_test_short.bin";
    {
        std::ofstream out(path, std::ios::binary);
        out << "abc";
    }
    try {
        (void)safetensors_file::open(path);
        FAIL("no error");
    } catch (const io_error& e) {
        CHECK(mentions(e.what(), path.string()));
        CHECK(mentions(e.what(), "shorter than the 8-byte header length"));
    }
    std::filesystem::remove(path);
    const auto empty = std::filesystem::temp_directory_path() / "ctt_safetensors_test_empty.bin";
    { std::ofstream out(empty, std::ios::binary); }
    CHECK_THROWS_AS((void)safetensors_file::open(empty), io_error);
    std::filesystem::remove(empty);
}

TEST_CASE("every validation error is an io_error naming the problem") {
    const std::string ok_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
    struct bad_case {
        bytes file;
        std::string expected;
    };
    bytes huge_length = raw_file("{}", 0);
    huge_length[7] = std::byte{0x01}; // 2^56
    bytes over_limit = raw_file("{}", 0);
    const std::uint64_t limit_plus = safetensors_file::max_header_bytes + 1;
    std::memcpy(over_limit.data(), &limit_plus, 8);
    bytes past_end = raw_file("{}", 0);
    past_end[0] = std::byte{3};

    const std::vector<bad_case> cases = {
        {bytes(5), "shorter than the 8-byte header length"},
        {huge_length, "exceeds the limit"},
        {over_limit, "exceeds the limit"},
        {past_end, "runs past the end of the file"},
        {raw_file("{\"a\": ", 8), "not valid JSON"},
        {raw_file("", 0), "not valid JSON"},
        {raw_file("{} x", 0), "not valid JSON"},
        {raw_file("[1, 2]", 0), "not a JSON object"},
        {raw_file("\"text\"", 0), "not a JSON object"},
        {raw_file(R"({"a": 3})", 0), "entry 'a' is not an object"},
        {raw_file(R"({"a": {"shape": [2], "data_offsets": [0, 8]}})", 8), "no dtype"},
        {raw_file(R"({"a": {"dtype": 3, "shape": [2], "data_offsets": [0, 8]}})", 8), "no dtype"},
        {raw_file(R"({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})", 8),
         "unknown dtype 'Q4'"},
        {raw_file(R"({"a": {"dtype": "F32", "data_offsets": [0, 8]}})", 8), "no shape"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", 8), "no shape"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8),
         "is negative"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", 8),
         "not an integer"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8),
         "not a number"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [18446744073709551616],)"
                  R"( "data_offsets": [0, 8]}})",
                  8),
         "not an integer"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296],)"
                  R"( "data_offsets": [0, 8]}})",
                  8),
         "overflows"},
        {raw_file(R"({"a": {"dtype": "F64", "shape": [2305843009213693952],)"
                  R"( "data_offsets": [0, 8]}})",
                  8),
         "overflows"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2]}})", 8), "no data_offsets"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", 8),
         "no data_offsets"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}})", 8),
         "no data_offsets"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8),
         "end before they begin"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-1, 8]}})", 8),
         "is negative"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 7),
         "run past the byte buffer"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}})", 12),
         "hold 12 bytes but shape [2] of F32 needs 8"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [0, 5], "data_offsets": [0, 4]}})", 8),
         "needs 0"},
        {raw_file("{" + ok_entry +
                      R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                  12),
         "overlap"},
        {raw_file("{" + ok_entry +
                      R"(, "b": {"dtype": "U8", "shape": [1], "data_offsets": [3, 4]}})",
                  12),
         "'a' [0, 8) and 'b' [3, 4) overlap"},
        {raw_file("{" + ok_entry + ", " + ok_entry + "}", 8), "repeats the key 'a'"},
        {raw_file(
             R"({"a": {"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8),
         "repeats the key 'dtype'"},
        {raw_file(R"({"__metadata__": [1]})", 0), "__metadata__ is not an object"},
        {raw_file(R"({"__metadata__": {"k": 1}})", 0), "__metadata__ entry 'k' is not a string"},
        {raw_file(R"({"a": [[[[[[[[[[[[1]]]]]]]]]]]})", 0), "nests deeper"},
        {raw_file(std::string(100000, '[') + std::string(100000, ']'), 0), "nests deeper"},
        {raw_file("{\"a\": \"" + std::string(100000, 'x'), 0), "not valid JSON"},
        {raw_file(R"({"a": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 8]}})", 8),
         "not valid JSON"},
    };
    for (const bad_case& c : cases) {
        const std::string message = error_of(c.file);
        INFO("expected: ", c.expected, "\n got: ", message);
        CHECK(mentions(message, c.expected));
        CHECK(mentions(message, "safetensors: "));
        CHECK(mentions(message, "test.safetensors"));
        CHECK(message.size() < 600);
    }

    // Accepted edge cases: trailing spaces in the header, extra entry keys, empty tensors at
    // any offset, unused trailing bytes.
    CHECK_NOTHROW((void)safetensors_file::from_bytes(raw_file("{}        ", 0)));
    CHECK_NOTHROW((void)safetensors_file::from_bytes(
        raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1},)"
                 R"( "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
                 20)));
}

TEST_CASE("from_buffer reads the caller's bytes in place, validated as a file is") {
    const bytes file = write_file({{"w", "F32", {2}, bytes_of<float>({1.5f, -2.f})},
                                   {"ids", "I64", {1}, bytes_of<std::int64_t>({7})}});
    const auto f = safetensors_file::from_buffer(file, "weights.bin");
    CHECK(f.source() == "weights.bin");
    CHECK(f.load_floats("w") == std::vector<float>{1.5f, -2.f});
    CHECK(f.load_ints("ids") == std::vector<std::int32_t>{7});
    // In place: the bytes a tensor reads are the caller's, not a copy.
    CHECK(f.raw_bytes("w").data() == file.data() + 8 + (file.size() - 8 - 16));

    // The exact messages of hostile buffers; none allocates from the header before checking it.
    bytes past_end = raw_file("{}", 0);
    past_end[0] = std::byte{0xff};
    past_end[1] = std::byte{0xff};
    CHECK_THROWS_WITH_AS((void)safetensors_file::from_buffer(past_end, "net"),
                         "safetensors: header length 65535 runs past the end of the file "
                         "(10 bytes) in net",
                         io_error);
    CHECK_THROWS_WITH_AS(
        (void)safetensors_file::from_buffer(
            raw_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8), "net"),
        "safetensors: tensor 'a': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12 "
        "in net",
        io_error);
    CHECK_THROWS_WITH_AS(
        (void)safetensors_file::from_buffer(
            raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                     R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                     8),
            "net"),
        "safetensors: tensors 'a' [0, 8) and 'b' [4, 8) overlap in net", io_error);
    CHECK_THROWS_WITH_AS(
        (void)safetensors_file::from_buffer(
            raw_file(R"({"a": {"dtype": "BF16", "shape": [4294967296, 4294967296, 2],)"
                     R"( "data_offsets": [0, 8]}})",
                     8),
            "net"),
        "safetensors: tensor 'a': shape [4294967296, 4294967296, 2] overflows the address space "
        "in net",
        io_error);
    CHECK_THROWS_WITH_AS((void)safetensors_file::from_buffer(
                             raw_file(std::string(20, '[') + std::string(20, ']'), 0), "net"),
                         "safetensors: header: JSON nests deeper than 8 levels in net", io_error);
    const std::string long_name(safetensors_file::max_string_bytes + 1, 'n');
    CHECK_THROWS_WITH_AS(
        (void)safetensors_file::from_buffer(
            raw_file("{\"" + long_name +
                         R"(": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})",
                     0),
            "net"),
        "safetensors: header: a string of 65537 bytes exceeds the limit of 65536 in net", io_error);
    CHECK_THROWS_WITH_AS((void)safetensors_file::from_buffer(bytes(3), "net"),
                         "safetensors: file is 3 bytes long, shorter than the 8-byte header "
                         "length in net",
                         io_error);
}

TEST_CASE("golden_case support: case folders and the tolerance check") {
    const auto c = ctt::test::golden_case::hf("bert");
    CHECK(c.name() == "bert");
    CHECK(c.config["model_type"] == "bert");
    CHECK(c.dim("H") == 64);
    CHECK_THROWS_AS((void)c.dim("nope"), io_error);
    CHECK(c.model.contains("bert.embeddings.word_embeddings.weight"));
    const auto sdpa = ctt::test::golden_case::data("kernels/sdpa_kernels");
    CHECK(sdpa.io.contains("c0_q"));
    CHECK_THROWS_AS((void)ctt::test::golden_case::hf("no_such_case"), io_error);

    const auto ref = c.io.load_floats("hidden_states");
    auto ours = ref;
    CHECK(ctt::test::within_tolerance(ours, ref));
    CHECK(ctt::test::max_abs_diff(ours, ref) == 0.0);

    // The bound scales with max|ref| once that exceeds 1.
    double max_ref = 0;
    for (float v : ref) {
        max_ref = std::max(max_ref, static_cast<double>(std::abs(v)));
    }
    const double bound = 2e-4 * std::max(1.0, max_ref);
    ours[100] = ref[100] + static_cast<float>(0.5 * bound);
    CHECK(ctt::test::within_tolerance(ours, ref));
    ours[100] = ref[100] + static_cast<float>(2.0 * bound);
    const auto report = ctt::test::within_tolerance(ours, ref);
    CHECK_FALSE(report);
    CHECK(report.worst_index == 100);
    CHECK(mentions(report.message(), "worst at flat index 100"));

    // Padded positions are skipped: row 1 of the batch is padded on its last 4 positions.
    const auto mask = c.io.load_ints("attention_mask");
    const std::size_t padded = (0 * 2 + 1) * 13 * 64 + 12 * 64 + 5; // layer 0, row 1, pos 12
    REQUIRE(mask[13 + 12] == 0);
    ours = ref;
    ours[padded] += 1.f;
    CHECK_FALSE(ctt::test::within_tolerance(ours, ref));
    CHECK(ctt::test::within_tolerance_masked(ours, ref, mask, 64));
    CHECK_FALSE(ctt::test::within_tolerance_masked(ours, ref, mask, 63));
    ours[padded - 64 * 4] += 1.f; // position 8 of row 1 is real
    CHECK_FALSE(ctt::test::within_tolerance_masked(ours, ref, mask, 64));

    ours = ref;
    ours[7] = std::numeric_limits<float>::quiet_NaN();
    CHECK_FALSE(ctt::test::within_tolerance(ours, ref));
    ours.pop_back();
    CHECK(mentions(ctt::test::within_tolerance(ours, ref).message(), "sizes differ"));
}
