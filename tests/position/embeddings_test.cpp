#include <ctt/position/embeddings.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
tensor<float, shape<7, 5>> make_table() {
    tensor<float, shape<7, 5>> t;
    for (index_t r = 0; r < 7; ++r) {
        for (index_t c = 0; c < 5; ++c) {
            t(r, c) = static_cast<float>(10 * r + c);
        }
    }
    return t;
}
} // namespace

TEST_CASE("embedding_lookup copies the row of each id") {
    const auto table = make_table();
    const std::vector<std::int32_t> ids{3, 0, 6, 3};
    tensor<float, shape<dyn, 5>> out(ids.size());
    ctt::embedding_lookup(table.view(), ids, out.view());
    for (index_t t = 0; t < ids.size(); ++t) {
        for (index_t c = 0; c < 5; ++c) {
            CHECK(out(t, c) == static_cast<float>(10 * ids[t] + static_cast<int>(c)));
        }
    }
    // Adding token-type rows on top, then one language row for every token.
    const std::vector<std::int64_t> types{1, 1, 0, 2};
    ctt::embedding_lookup_add(table.view(), types, out.view());
    ctt::embedding_broadcast_add(table.view(), 4, out.view());
    for (index_t t = 0; t < ids.size(); ++t) {
        for (index_t c = 0; c < 5; ++c) {
            const float expect =
                static_cast<float>(10 * ids[t] + 10 * types[t] + 40 + 3 * static_cast<int>(c));
            CHECK(out(t, c) == expect);
        }
    }
}

TEST_CASE("out-of-range ids throw value_error naming the id and the vocabulary size") {
    const auto table = make_table();
    tensor<float, shape<dyn, 5>> out(2);
    const std::vector<std::int32_t> too_big{1, 7};
    try {
        ctt::embedding_lookup(table.view(), too_big, out.view());
        FAIL("no exception");
    } catch (const ctt::value_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("id 7") != std::string::npos);
        CHECK(msg.find("size 7") != std::string::npos);
    }
    const std::vector<std::int32_t> negative{-1, 0};
    CHECK_THROWS_AS(ctt::embedding_lookup_add(table.view(), negative, out.view()),
                    ctt::value_error);
    CHECK_THROWS_AS(ctt::embedding_broadcast_add(table.view(), 9u, out.view()), ctt::value_error);
    const std::vector<std::int32_t> three{1, 2, 3};
    CHECK_THROWS_AS(ctt::embedding_lookup(table.view(), three, out.view()), ctt::shape_error);
    tensor<float, shape<dyn, dyn>> wide(2, 6);
    const std::vector<std::int32_t> two{1, 2};
    CHECK_THROWS_AS(ctt::embedding_lookup(table.view(), two, wide.view()), ctt::shape_error);
}

TEST_CASE("position ids: learned from 0, BART offset 2, with a past length") {
    CHECK(ctt::offset_position_ids(4) == std::vector<index_t>{0, 1, 2, 3});
    CHECK(ctt::offset_position_ids(2, 5) == std::vector<index_t>{5, 6});
    CHECK(ctt::bart_position_ids(3) == std::vector<index_t>{2, 3, 4});
    CHECK(ctt::bart_position_ids(1, 7) == std::vector<index_t>{9});
}

TEST_CASE("RoBERTa position ids: padding_idx + 1 + running count, pads at padding_idx") {
    // HF create_position_ids_from_input_ids with padding_idx = 1:
    // mask = [1,1,1,0,0] -> cumsum [1,2,3,3,3] * mask + 1 = [2,3,4,1,1].
    const std::vector<std::int32_t> right_padded{0, 31, 2, 1, 1};
    CHECK(ctt::roberta_position_ids(right_padded, 1) == std::vector<index_t>{2, 3, 4, 1, 1});
    // Left padding: pads stay at 1 and the first real token gets 2.
    const std::vector<std::int32_t> left_padded{1, 1, 5, 6};
    CHECK(ctt::roberta_position_ids(left_padded, 1) == std::vector<index_t>{1, 1, 2, 3});
    // A decode step after 4 tokens: (cumsum + past) * mask + padding_idx.
    const std::vector<std::int32_t> step{9};
    CHECK(ctt::roberta_position_ids(step, 1, 4) == std::vector<index_t>{6});
    CHECK_THROWS_AS((void)ctt::roberta_position_ids(step, -1), ctt::value_error);
}
