#include <catch2/catch.hpp>

#include <string>

#include "json/control_payload.hpp"

namespace {

std::string error_of(std::string_view body) {
    json::control_payload_parser p;
    return p.parse(body).error;
}

} // namespace

TEST_CASE("control_payload: valid bodies", "[json]") {
    json::control_payload_parser p;
    auto r = p.parse(R"({"n": 4, "hostnames": ["S5", "S4"]})");
    REQUIRE(r.ok());
    CHECK(r.payload.n == std::optional<std::uint64_t>(4));
    REQUIRE(r.payload.hostnames);
    CHECK(*r.payload.hostnames == std::vector<std::string>{"S5", "S4"});

    r = p.parse("");
    REQUIRE(r.ok());
    CHECK_FALSE(r.payload.n);
    CHECK_FALSE(r.payload.hostnames);
    CHECK(p.parse(" \r\n\t").ok());

    r = p.parse(R"({"n": 1})");
    REQUIRE(r.ok());
    CHECK(r.payload.n == std::optional<std::uint64_t>(1));
    CHECK_FALSE(r.payload.hostnames);

    r = p.parse(R"({"hostnames": [], "extra": {"ignored": true}})");
    REQUIRE(r.ok());
    CHECK_FALSE(r.payload.n);
    CHECK(r.payload.hostnames ==
          std::optional<std::vector<std::string>>(std::vector<std::string>{}));

    r = p.parse(R"({"n": 18446744073709551615})");
    REQUIRE(r.ok());
    CHECK(r.payload.n == std::optional<std::uint64_t>(18446744073709551615ULL));

    CHECK(p.parse("{}").ok());
    // The parser is reusable after errors.
    CHECK_FALSE(p.parse("{").ok());
    CHECK(p.parse(R"({"n": 2})").ok());
}

TEST_CASE("control_payload: every error", "[json]") {
    const std::string not_json = "<Error> Payload is not valid JSON";
    CHECK(error_of("{") == not_json);
    CHECK(error_of("n=4") == not_json);
    CHECK(error_of(R"({"n": 4,})") == not_json);
    CHECK(error_of(R"({'n': 4})") == not_json);
    CHECK(error_of("{\"n\": 4} trailing") == not_json);
    CHECK(error_of("\xff\xfe") == not_json);

    const std::string not_object = "<Error> Payload must be a JSON object";
    CHECK(error_of("[1, 2]") == not_object);
    CHECK(error_of("4") == not_object);
    CHECK(error_of("\"text\"") == not_object);
    CHECK(error_of("null") == not_object);

    const std::string bad_n = "<Error> 'n' must be a positive integer";
    CHECK(error_of(R"({"n": 0})") == bad_n);
    CHECK(error_of(R"({"n": -1})") == bad_n);
    CHECK(error_of(R"({"n": 2.5})") == bad_n);
    CHECK(error_of(R"({"n": 4.0})") == bad_n);
    CHECK(error_of(R"({"n": 1e2})") == bad_n);
    CHECK(error_of(R"({"n": "4"})") == bad_n);
    CHECK(error_of(R"({"n": true})") == bad_n);
    CHECK(error_of(R"({"n": null})") == bad_n);
    CHECK(error_of(R"({"n": [4]})") == bad_n);
    // Valid JSON, but beyond 64 bits: simdjson refuses it, and the answer names n.
    CHECK(error_of(R"({"n": 99999999999999999999999})") == bad_n);

    const std::string bad_list = "<Error> 'hostnames' must be a list of strings";
    CHECK(error_of(R"({"hostnames": "S1"})") == bad_list);
    CHECK(error_of(R"({"hostnames": ["S1", 2]})") == bad_list);
    CHECK(error_of(R"({"hostnames": [["S1"]]})") == bad_list);
    CHECK(error_of(R"({"hostnames": [null]})") == bad_list);
    CHECK(error_of(R"({"hostnames": null})") == bad_list);
    CHECK(error_of(R"({"hostnames": {"a": "b"}})") == bad_list);

    CHECK(error_of(R"({"n": 1, "n": 2})") == "<Error> 'n' is given more than once");
    CHECK(error_of(R"({"hostnames": [], "hostnames": ["a"]})") ==
          "<Error> 'hostnames' is given more than once");
}

TEST_CASE("control_payload: weights", "[json]") {
    json::control_payload_parser p;
    auto r = p.parse(R"({"n": 2, "hostnames": ["A"], "weights": [3, 1]})");
    REQUIRE(r.ok());
    CHECK(r.payload.weights == std::optional<std::vector<std::uint64_t>>({3, 1}));
    CHECK_FALSE(p.parse(R"({"n": 1})").payload.weights);
    const std::string bad = "<Error> 'weights' must be a list of positive integers";
    CHECK(error_of(R"({"weights": 3})") == bad);
    CHECK(error_of(R"({"weights": [0]})") == bad);
    CHECK(error_of(R"({"weights": [-1]})") == bad);
    CHECK(error_of(R"({"weights": [1.5]})") == bad);
    CHECK(error_of(R"({"weights": ["2"]})") == bad);
    CHECK(error_of(R"({"weights": [1], "weights": [2]})") ==
          "<Error> 'weights' is given more than once");
}
