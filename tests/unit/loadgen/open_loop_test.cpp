// The open-loop pieces of lb-load without I/O: the histogram's bounded error, and the
// pacer's correction for coordinated omission, proved on a fake clock.
#include <catch2/catch.hpp>

#include <random>

#include "loadgen/latency_histogram.hpp"
#include "loadgen/pacer.hpp"

using loadgen::latency_histogram;
using loadgen::pacer;
using namespace std::chrono_literals;

TEST_CASE("histogram buckets cover every value once, each within 1/128 of its values") {
    std::size_t previous = 0;
    for (std::uint64_t v = 0; v < 5'000'000; v += (v < 1000 ? 1 : v / 97)) {
        const std::size_t index = latency_histogram::index_of(v);
        CHECK(index >= previous);
        previous = index;
        const std::uint64_t low = latency_histogram::lowest_in(index);
        const std::uint64_t high = latency_histogram::highest_in(index);
        REQUIRE(low <= v);
        REQUIRE(v <= high);
        REQUIRE(static_cast<double>(high - low) <= static_cast<double>(low) / 128.0 + 0.5);
    }
    // Neighbouring buckets touch: no value falls between two of them.
    for (std::size_t i = 1; i < latency_histogram::index_of(1ULL << 39); ++i) {
        REQUIRE(latency_histogram::lowest_in(i) == latency_histogram::highest_in(i - 1) + 1);
    }
}

TEST_CASE("histogram percentiles are within 1% of the exact ones") {
    std::mt19937_64 random(7);
    std::lognormal_distribution<double> spread(8.0, 1.5); // a long tail, ~3 ms median
    std::vector<std::uint64_t> values;
    latency_histogram histogram;
    for (int i = 0; i < 200'000; ++i) {
        const auto v = static_cast<std::uint64_t>(spread(random)) + 1;
        values.push_back(v);
        histogram.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size() - 1e-9));
        const double exact = static_cast<double>(values[rank - 1]);
        CAPTURE(p, exact);
        CHECK(static_cast<double>(histogram.percentile(p)) == Approx(exact).epsilon(0.01));
    }
    latency_histogram other;
    other.record(1'000'000'000);
    histogram.merge(other);
    CHECK(histogram.count() == 200'001);
    CHECK(histogram.max() == 1'000'000'000);
}

namespace {
// One connection against a server that answers in 100 us, except once when it stalls for
// 200 ms: what the latencies look like, measured open loop (rate) or closed loop (rate 0).
latency_histogram one_connection(double rate, std::uint64_t requests) {
    const pacer::clock::time_point start{};
    const pacer pace{start, rate};
    latency_histogram latencies;
    pacer::clock::time_point now = start;
    for (std::uint64_t i = 0; i < requests; ++i) {
        now += pace.wait_before(i, now);
        const pacer::clock::time_point sent = now;
        now += i == 500 ? 200ms : 100us;
        latencies.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(pace.latency(i, sent, now))
                .count()));
    }
    return latencies;
}
} // namespace

TEST_CASE("open loop: a stall shows in every request it delayed, not in one") {
    // 1,000 requests a second for 10 s: the stall holds back the next 200 requests.
    const latency_histogram open = one_connection(1000, 10'000);
    const latency_histogram closed = one_connection(0, 10'000);
    // Closed loop hides it: one slow request in 10,000; even p99.99 is the service time.
    CHECK(closed.percentile(99) == 100);
    CHECK(closed.percentile(99.99) == 100);
    CHECK(closed.max() == 200'000);
    // Open loop counts each delayed request from when it was due: the backlog clears at
    // 0.9 ms a request, so about 222 requests (2.2%) waited, evenly from 200 ms down to 0:
    // the top 1% start near 200 x (1 - 100/222) = 110 ms, the top 0.1% near 191 ms.
    CHECK(open.percentile(50) == 100);
    CHECK(open.percentile(99) == Approx(110'000).epsilon(0.03));
    CHECK(open.percentile(99.9) == Approx(191'000).epsilon(0.02));
    CHECK(open.max() == 200'000);
}

TEST_CASE("open loop: requests go out on the timetable, never earlier") {
    const pacer::clock::time_point start{};
    const pacer pace{start, 2000}; // one every 500 us
    CHECK(pace.due(0) == start);
    CHECK(pace.due(3) == start + 1500us);
    CHECK(pace.wait_before(3, start + 1000us) == 500us);
    CHECK(pace.wait_before(3, start + 2000us) == 0us); // late: at once
    CHECK(pace.latency(3, start + 2000us, start + 2100us) == 600us);
    const pacer closed{start, 0};
    CHECK(closed.wait_before(3, start) == 0us);
    CHECK(closed.latency(3, start + 2000us, start + 2100us) == 100us);
}
