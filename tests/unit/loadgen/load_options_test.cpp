// lb-load's flags and URL parsing: defaults, both value spellings, and the errors that
// name the offending flag.

#include <catch2/catch.hpp>

#include <string_view>
#include <vector>

#include "loadgen/load_options.hpp"

namespace {

std::expected<loadgen::load_options, std::string> parse(std::vector<std::string_view> args) {
    return loadgen::parse_load_options(args);
}

} // namespace

TEST_CASE("a URL splits into authority, Host and target") {
    const auto url = loadgen::parse_http_url("http://127.0.0.1:5000/home");
    REQUIRE(url);
    CHECK(url->authority == "127.0.0.1:5000");
    CHECK(url->host == "127.0.0.1:5000");
    CHECK(url->target == "/home");

    const auto bare = loadgen::parse_http_url("http://localhost");
    REQUIRE(bare);
    CHECK(bare->authority == "localhost:80");
    CHECK(bare->target == "/");

    const auto query = loadgen::parse_http_url("http://[::1]?a=1");
    REQUIRE(query);
    CHECK(query->authority == "[::1]:80");
    CHECK(query->target == "/?a=1");
}

TEST_CASE("bad URLs are refused") {
    CHECK_FALSE(loadgen::parse_http_url("https://x:1/"));
    CHECK_FALSE(loadgen::parse_http_url("http://:5000/"));
    CHECK_FALSE(loadgen::parse_http_url("http://x:0/"));
    CHECK_FALSE(loadgen::parse_http_url("http://x:99999/"));
    CHECK_FALSE(loadgen::parse_http_url("127.0.0.1:5000"));
}

TEST_CASE("defaults and every flag") {
    const auto defaults = parse({"--url", "http://127.0.0.1:5000/home"});
    REQUIRE(defaults);
    CHECK(defaults->requests == 10'000);
    CHECK(defaults->connections == 64);
    CHECK(defaults->threads == 1);
    CHECK(defaults->request_ids == loadgen::request_id_mode::random);
    CHECK_FALSE(defaults->json);
    CHECK(defaults->timeline_bucket == std::chrono::milliseconds{100});
    CHECK(defaults->timeout == std::chrono::milliseconds{5000});

    const auto all =
        parse({"--url=http://h:1/x", "--requests", "7", "--connections=3", "--request-id", "none",
               "--threads", "2", "--json", "--timeline-ms", "50", "--timeout-ms=250"});
    REQUIRE(all);
    CHECK(all->url.target == "/x");
    CHECK(all->requests == 7);
    CHECK(all->connections == 3);
    CHECK(all->request_ids == loadgen::request_id_mode::none);
    CHECK(all->threads == 2);
    CHECK(all->json);
    CHECK(all->timeline_bucket == std::chrono::milliseconds{50});
    CHECK(all->timeout == std::chrono::milliseconds{250});
}

TEST_CASE("flag errors name the flag") {
    const auto missing_url = parse({"--requests", "5"});
    REQUIRE_FALSE(missing_url);
    CHECK(missing_url.error().find("--url") != std::string::npos);

    const auto zero = parse({"--url", "http://h:1/", "--connections", "0"});
    REQUIRE_FALSE(zero);
    CHECK(zero.error().find("--connections") != std::string::npos);

    const auto mode = parse({"--url", "http://h:1/", "--request-id", "sequential"});
    REQUIRE_FALSE(mode);
    CHECK(mode.error().find("--request-id") != std::string::npos);

    const auto unknown = parse({"--url", "http://h:1/", "--rate", "5"});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().find("--rate") != std::string::npos);

    const auto no_value = parse({"--url", "http://h:1/", "--requests"});
    REQUIRE_FALSE(no_value);
    CHECK(no_value.error().find("needs a value") != std::string::npos);

    const auto stray = parse({"--url", "http://h:1/", "oops"});
    CHECK_FALSE(stray);
}

TEST_CASE("--help needs no URL") {
    const auto help = parse({"--help"});
    REQUIRE(help);
    CHECK(help->help);
}
