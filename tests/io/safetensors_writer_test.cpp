// safetensors_writer round trips: every dtype written and read back through safetensors_file
// (values exact for F64/F32 and the integer types, F16/BF16 equal to the reader's own
// conversion of the rounded value), shapes including scalars and empty tensors, metadata, a
// streamed float source, a file on disk, and the refusals.
#include <ctt/io/safetensors.hpp>
#include <ctt/io/safetensors_writer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <vector>

using ctt::dtype;
using ctt::index_t;

TEST_CASE("safetensors_writer: every dtype reads back") {
    const std::vector<float> values{0.f,    -1.5f,  3.14159265f, 65504.f, 1e-8f,
                                    -2e38f, 0.333f, 1e30f,       -0.f};
    ctt::safetensors_writer w;
    for (const dtype t : {dtype::f64, dtype::f32, dtype::f16, dtype::bf16}) {
        w.add(std::string(ctt::dtype_name(t)), {3, 3}, values, t);
    }
    const std::vector<std::int64_t> ints{0, 1, -7, 127, -128};
    for (const dtype t : {dtype::i64, dtype::i32, dtype::i16, dtype::i8}) {
        w.add("int_" + std::string(ctt::dtype_name(t)), {5}, ints, t);
    }
    w.add("u8", {2}, std::vector<std::int64_t>{0, 255}, dtype::u8);
    w.add("flags", {3}, std::vector<std::int64_t>{1, 0, 1}, dtype::boolean);
    w.add("scalar", {}, std::vector<float>{2.5f});
    w.add("empty", {0, 4}, std::vector<float>{});
    w.set_metadata("format", "pt");
    const auto bytes = w.bytes();
    std::uint64_t header = 0;
    for (int i = 0; i < 8; ++i) {
        header |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
    }
    CHECK((8 + header) % 8 == 0); // the data starts 8-byte aligned
    const auto f = ctt::safetensors_file::from_bytes(bytes);
    CHECK(f.size() == 12);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.info("F32").shape == std::vector<index_t>{3, 3});
    CHECK(f.info("BF16").type == dtype::bf16);
    CHECK(f.load_floats("F32") == values);
    CHECK(f.load_floats("F64") == values);
    const auto half = f.load_floats("F16");
    const auto brain = f.load_floats("BF16");
    for (std::size_t i = 0; i < values.size(); ++i) {
        CAPTURE(i);
        CHECK(half[i] == ctt::fp16_to_float(ctt::float_to_fp16(values[i])));
        CHECK(brain[i] == ctt::bf16_to_float(ctt::float_to_bf16(values[i])));
    }
    CHECK(std::isinf(half[5])); // -2e38 is past the half range
    for (const char* name : {"int_I64", "int_I32", "int_I16", "int_I8"}) {
        CAPTURE(name);
        CHECK(f.load_ints(name) == std::vector<std::int32_t>{0, 1, -7, 127, -128});
    }
    CHECK(f.info("u8").type == dtype::u8);
    CHECK(f.info("flags").type == dtype::boolean);
    CHECK(f.info("scalar").shape.empty());
    CHECK(f.load_floats("scalar") == std::vector<float>{2.5f});
    CHECK(f.info("empty").element_count() == 0);
}

TEST_CASE("safetensors_writer: views, streamed sources and files on disk") {
    ctt::tensor<float, ctt::shape<2, 3>> t;
    for (index_t i = 0; i < 6; ++i) {
        t.data()[i] = static_cast<float>(i) * 0.5f;
    }
    ctt::safetensors_writer w;
    w.add("view", t.view());
    w.add_floats("streamed", {4, 5}, dtype::bf16, [](std::span<float> out) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            out[i] = static_cast<float>(i);
        }
    });
    const auto path = std::filesystem::temp_directory_path() / "ctt_writer_test.safetensors";
    w.write(path);
    const auto f = ctt::safetensors_file::open(path);
    const auto back = f.load<float>("view", ctt::shape<2, 3>{});
    for (index_t i = 0; i < 6; ++i) {
        CHECK(back.data()[i] == t.data()[i]);
    }
    const auto streamed = f.load_floats("streamed");
    REQUIRE(streamed.size() == 20);
    CHECK(streamed[19] == 19.f); // small integers are exact in bfloat16
    std::filesystem::remove(path);
}

TEST_CASE("safetensors_writer refuses what the format cannot hold") {
    ctt::safetensors_writer w;
    w.add("a", {2}, std::vector<float>{1.f, 2.f});
    CHECK_THROWS_WITH_AS(w.add("a", {2}, std::vector<float>{1.f, 2.f}),
                         doctest::Contains("added twice"), ctt::value_error);
    CHECK_THROWS_WITH_AS(w.add("b", {3}, std::vector<float>{1.f, 2.f}),
                         doctest::Contains("holds 3 elements but 2"), ctt::value_error);
    CHECK_THROWS_WITH_AS(w.add("c", {1}, std::vector<std::int64_t>{300}, dtype::i8),
                         doctest::Contains("does not fit I8"), ctt::value_error);
    CHECK_THROWS_WITH_AS(w.add("d", {1}, std::vector<float>{1.f}, dtype::i32),
                         doctest::Contains("cannot be stored as I32"), ctt::value_error);
    CHECK_THROWS_WITH_AS(w.add("__metadata__", {1}, std::vector<float>{1.f}),
                         doctest::Contains("reserved"), ctt::value_error);
}
