// Threads: one const model serving many threads, each generating with its own session, gives
// every thread the serial answer; outputs are bit-identical for 1, 2 and 3 OpenMP threads; a
// sequence's outputs do not depend on the batch it shares or its position in the batch. The
// sizes are above the kernels' parallel thresholds (GEMMs of m * n * k >= 1e6: a 64-token
// prompt through the LM head, a batch of 4 x 64 tokens through every encoder projection), so
// with OpenMP the parallel paths run. Built under ThreadSanitizer by the test-tsan preset.
#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../support/encoder_checks.hpp"
#include "../support/random_model.hpp"
#include "../support/tiny_models.hpp"

namespace {

using namespace ctt;
using gpt2_type = gpt2<test::tiny_gpt2>;
using bert_type = bert<test::tiny_bert>;

/// Restores the thread count of later parallel regions when it goes out of scope.
struct thread_count_guard {
    int saved = simd::max_threads();
    ~thread_count_guard() { simd::set_num_threads(saved); }
};

bool same_bits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

/// Logits of every position of a 64-token prompt, then of 4 one-token steps.
std::vector<float> decoder_outputs(const gpt2_type& model) {
    constexpr index_t V = gpt2_type::vocab;
    const auto prompt = test::random_tokens(60, V, 11);
    auto session = model.new_session(64);
    tensor<float, shape<dyn, V>> logits(60);
    model.step(session, prompt, logits.view());
    std::vector<float> out(logits.begin(), logits.end());
    tensor<float, shape<dyn, V>> one(1);
    for (std::int32_t t = 0; t < 4; ++t) {
        model.step(session, std::vector<std::int32_t>{t * 7 + 1}, one.view());
        out.insert(out.end(), one.begin(), one.end());
    }
    return out;
}

/// Every output of a padded batch of 4 x 64 tokens, flattened.
std::vector<float> encoder_outputs(const bert_type& model) {
    const index_t batch = 4;
    const index_t length = 64;
    const auto ids = test::random_tokens(batch * length, bert_type::vocab, 5);
    std::vector<std::int32_t> mask(batch * length, 1);
    for (index_t t = 40; t < length; ++t) {
        mask[length + t] = 0; // row 1 is padded after 40 tokens
    }
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(batch, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(batch, length));
    const auto out = model.forward(ids_v, encoder_inputs{nullptr, &mask_v, nullptr, true});
    std::vector<float> flat;
    for (const auto& h : out.hidden_states) {
        flat.insert(flat.end(), h.begin(), h.end());
    }
    flat.insert(flat.end(), out.prediction_logits.begin(), out.prediction_logits.end());
    flat.insert(flat.end(), out.pooled.begin(), out.pooled.end());
    return flat;
}

} // namespace

TEST_CASE("one const model serves 8 threads, each generating with its own session") {
    const std::unique_ptr<const gpt2_type> model = test::random_model<gpt2_type>();
    constexpr int threads = 8;
    std::vector<std::vector<std::int32_t>> prompts;
    std::vector<sampling_options> options;
    for (int i = 0; i < threads; ++i) {
        prompts.push_back(test::random_tokens(3 + i, gpt2_type::vocab, 100 + i));
        options.push_back(i % 2 == 0 ? sampling_options{}
                                     : sampling_options{.temperature = 0.9f,
                                                        .top_k = 40,
                                                        .seed = static_cast<std::uint64_t>(i)});
    }
    std::vector<std::vector<std::int32_t>> serial;
    for (int i = 0; i < threads; ++i) {
        serial.push_back(generate(*model, prompts[i], 12, options[i]));
    }
    std::vector<std::vector<std::int32_t>> parallel(threads);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&, i] {
            // Two rounds per thread: a session is reused after the first.
            auto session = model->new_session(prompts[i].size() + 12);
            (void)generate_with(*model, session, prompts[i], 12, options[i]);
            session.reset();
            parallel[i] = generate_with(*model, session, prompts[i], 12, options[i]);
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    for (int i = 0; i < threads; ++i) {
        CAPTURE(i);
        CHECK(parallel[i].size() == prompts[i].size() + 12);
        CHECK(parallel[i] == serial[i]);
    }
}

TEST_CASE("outputs are bit-identical for 1, 2 and 3 threads") {
    if constexpr (!simd::has_openmp) {
        MESSAGE("built without OpenMP: every thread count runs the serial code");
    }
    const thread_count_guard guard;
    const auto decoder = test::random_model<gpt2_type>();
    const auto encoder = test::random_model<bert_type>();
    simd::set_num_threads(1);
    const auto decoder_serial = decoder_outputs(*decoder);
    const auto encoder_serial = encoder_outputs(*encoder);
    for (int threads : {2, 3}) {
        CAPTURE(threads);
        simd::set_num_threads(threads);
        CHECK(same_bits(decoder_outputs(*decoder), decoder_serial));
        CHECK(same_bits(encoder_outputs(*encoder), encoder_serial));
    }
}

TEST_CASE("packed weights of every type: bit-identical for 1, 2 and 3 threads") {
    const thread_count_guard guard;
    for (const weight_type type :
         {weight_type::f32, weight_type::bf16, weight_type::f16, weight_type::int8}) {
        const std::string name(to_string(type));
        CAPTURE(name);
        auto decoder = test::random_model<gpt2_type>();
        pack_weights(*decoder, type);
        simd::set_num_threads(1);
        const auto serial = decoder_outputs(*decoder);
        for (int threads : {2, 3}) {
            CAPTURE(threads);
            simd::set_num_threads(threads);
            CHECK(same_bits(decoder_outputs(*decoder), serial));
        }
    }
}

TEST_CASE("batch invariance: a sequence's outputs do not depend on its batch or position") {
    const thread_count_guard guard;
    const auto model = test::random_model<bert_type>();
    for (int threads : {1, 3}) {
        CAPTURE(threads);
        simd::set_num_threads(threads);
        // Each row of a padded batch equals that row alone, bit for bit.
        test::check_batch_invariance(*model, 48, {48, 20, 33, 1}, 17, 2);
    }
    // The same rows in another order, beside other rows: the same bits.
    const index_t length = 32;
    const auto a = test::random_tokens(length, bert_type::vocab, 1);
    const auto b = test::random_tokens(length, bert_type::vocab, 2);
    const auto c = test::random_tokens(length, bert_type::vocab, 3);
    const auto batch_of = [&](std::initializer_list<const std::vector<std::int32_t>*> rows) {
        std::vector<std::int32_t> ids;
        for (const auto* r : rows) {
            ids.insert(ids.end(), r->begin(), r->end());
        }
        return ids;
    };
    const auto abc = batch_of({&a, &b, &c});
    const auto cba_a = batch_of({&c, &b, &a, &a});
    const auto first = model->forward(token_ids(abc.data(), shape<dyn, dyn>(3, length)));
    const auto second = model->forward(token_ids(cba_a.data(), shape<dyn, dyn>(4, length)));
    const auto row = [&](const auto& out, index_t r) {
        return test::rows_of(out.last_hidden_state, r * length, length);
    };
    CHECK(row(first, 0) == row(second, 2));
    CHECK(row(first, 0) == row(second, 3));
    CHECK(row(first, 1) == row(second, 1));
    CHECK(row(first, 2) == row(second, 0));
}
