// The I/O-free pieces of lb-load: server ids from replica bodies, nearest-rank
// percentiles, timeline buckets, counting and the JSON rendering.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "loadgen/latency_stats.hpp"
#include "loadgen/load_report.hpp"
#include "loadgen/timeline.hpp"

using namespace std::chrono_literals;

TEST_CASE("the server id comes from the replica's message") {
    using loadgen::extract_server_id;
    const auto id =
        extract_server_id(R"({"message": "Hello from Server: Server3", "status": "successful"})");
    REQUIRE(id);
    CHECK(*id == "Server3");
    const auto named = extract_server_id(R"({"message": "Hello from Server: S10.a_b-c"})");
    REQUIRE(named);
    CHECK(*named == "S10.a_b-c");
    // A body cut short still names the server.
    const auto cut = extract_server_id("Hello from Server: Server1");
    REQUIRE(cut);
    CHECK(*cut == "Server1");
    CHECK_FALSE(extract_server_id(R"({"message": "Hello from Server: ", "status": "x"})"));
    CHECK_FALSE(extract_server_id(R"({"message": "<Error> '/x' endpoint does not exist"})"));
    CHECK_FALSE(extract_server_id(""));
}

TEST_CASE("nearest-rank percentiles from the histogram, exact below 256 us") {
    loadgen::latency_histogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        histogram.record(101 - v); // any order
    }
    const loadgen::latency_stats stats = loadgen::summarize(histogram);
    CHECK(stats.count == 100);
    CHECK(stats.p50_us == 50);
    CHECK(stats.p90_us == 90);
    CHECK(stats.p99_us == 99);
    CHECK(stats.p999_us == 100);
    CHECK(stats.max_us == 100);
    CHECK(stats.mean_us == Approx(50.5));

    loadgen::latency_histogram ten;
    for (std::uint64_t v = 1; v <= 10; ++v) {
        ten.record(v);
    }
    CHECK(ten.percentile(90) == 9);
    CHECK(ten.percentile(91) == 10);
    CHECK(ten.percentile(100) == 10);
    CHECK(ten.percentile(0.1) == 1);

    const loadgen::latency_stats empty = loadgen::summarize(loadgen::latency_histogram{});
    CHECK(empty.count == 0);
    CHECK(empty.max_us == 0);
}

TEST_CASE("timeline buckets by completion time") {
    loadgen::timeline line(100ms);
    line.record(0ms, true);
    line.record(99ms, true);
    line.record(100ms, false);
    line.record(350ms, true);
    line.record(-5ms, true); // clamped into the first bucket
    REQUIRE(line.buckets().size() == 4);
    CHECK(line.buckets()[0].ok == 3);
    CHECK(line.buckets()[1].errors == 1);
    CHECK(line.buckets()[2].ok == 0);
    CHECK(line.buckets()[3].ok == 1);

    loadgen::timeline other(100ms);
    other.record(550ms, false);
    other.record(10ms, true);
    line.merge(other);
    REQUIRE(line.buckets().size() == 6);
    CHECK(line.buckets()[0].ok == 4);
    CHECK(line.buckets()[5].errors == 1);
}

TEST_CASE("responses count per server and status, and render as JSON") {
    loadgen::load_report report(100ms);
    report.requests = 5;
    report.count_response(200, R"({"message": "Hello from Server: Server1"})");
    report.count_response(200, R"({"message": "Hello from Server: Server2"})");
    report.count_response(200, R"({"message": "Hello from Server: Server1"})");
    report.count_response(400, R"({"message": "<Error> no", "status": "failure"})");
    ++report.errors.reset;
    CHECK(report.responses == 4);
    CHECK(report.ok == 3);
    CHECK(report.per_server.at("Server1") == 2);
    CHECK(report.per_server.at("Server2") == 1);
    CHECK(report.per_status.at(400) == 1);

    loadgen::load_report other(100ms);
    other.requests = 1;
    other.count_response(200, "no id here");
    report.merge(other);
    CHECK(report.requests == 6);
    CHECK(report.unknown_server == 1);
    CHECK(report.errors.total() == 1);

    loadgen::load_options options;
    options.url = *loadgen::parse_http_url("http://127.0.0.1:5000/home");
    const std::string text = loadgen::render_json(report, options);
    CHECK(text.find(R"("servers":{"Server1":2,"Server2":1})") != std::string::npos);
    CHECK(text.find(R"("status":{"200":4,"400":1})") != std::string::npos);
    CHECK(text.find(R"("failed":2)") != std::string::npos);
    CHECK(text.find(R"("url":"http://127.0.0.1:5000/home")") != std::string::npos);
    const std::string table = loadgen::render_table(report, options);
    CHECK(table.find("Server1") != std::string::npos);
}
