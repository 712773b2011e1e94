#include <catch2/catch.hpp>

#include "balancer/control_api.hpp"
#include "balancer/key_source.hpp"
#include "http/request_parser.hpp"

using namespace balancer;

namespace {
json::control_payload_result parse(std::string_view body) {
    static json::control_payload_parser parser;
    return parser.parse(body);
}

const std::vector<std::string> three = {"Server1", "Server2", "Server3"};
const naming_rules names_rules{};

std::string generated(std::uint64_t k) {
    return "Server" + std::to_string(k);
}

std::variant<add_plan, api_error> add(std::string_view body,
                                      const std::vector<std::string>& current = three,
                                      const naming_rules& rules = names_rules) {
    return plan_add(parse(body), body.empty(), current, rules, generated);
}

std::variant<remove_plan, api_error> plan_rm(std::string_view body) {
    return plan_remove(parse(body), body.empty(), three, [](std::size_t) { return 0; });
}

std::string error_of(const auto& result) {
    REQUIRE(std::holds_alternative<api_error>(result));
    return std::get<api_error>(result).message;
}
} // namespace

TEST_CASE("/add plans given names first, then generated ones") {
    auto plan = std::get<add_plan>(add(R"({"n": 4, "hostnames": ["S5", "S4", "S10", "S11"]})"));
    CHECK(plan.names == std::vector<std::string>{"S5", "S4", "S10", "S11"});
    plan = std::get<add_plan>(add(R"({"n": 3, "hostnames": ["S5"]})"));
    CHECK(plan.names == std::vector<std::string>{"S5", "Server4", "Server5"});
    plan = std::get<add_plan>(add(""));
    CHECK(plan.names == std::vector<std::string>{"Server4"});
}

TEST_CASE("/add refuses every bad payload with the documented message") {
    CHECK(error_of(add(R"({"n": 1, "hostnames": ["S5", "S6"]})")) ==
          "<Error> Length of hostname list is more than newly added instances");
    CHECK(error_of(add("not json")) == "<Error> Payload is not valid JSON");
    CHECK(error_of(add("{}")).find("'n' is required") != std::string::npos);
    CHECK(error_of(add(R"({"n": 0})")) == "<Error> 'n' must be a positive integer");
    CHECK(error_of(add(R"({"n": "2"})")) == "<Error> 'n' must be a positive integer");
    CHECK(error_of(add(R"({"n": 1, "hostnames": "S5"})")) ==
          "<Error> 'hostnames' must be a list of strings");
    CHECK(error_of(add(R"({"n": 2, "hostnames": ["S5", "S5"]})")).find("more than once") !=
          std::string::npos);
    CHECK(error_of(add(R"({"n": 1, "hostnames": ["Server1"]})")).find("already in use") !=
          std::string::npos);
    CHECK(error_of(add(R"({"n": 1, "hostnames": ["-bad"]})")).find("not a valid name") !=
          std::string::npos);
    CHECK(error_of(add(R"({"n": 1, "hostnames": ["a b"]})")).find("not a valid name") !=
          std::string::npos);
    CHECK(error_of(add(R"({"n": 62})")).find("at most 64") != std::string::npos);
}

TEST_CASE("/add on the static backend takes HOST:PORT names and invents none") {
    naming_rules rules{.host_port = true, .max_replicas = 64};
    auto plan =
        std::get<add_plan>(add(R"({"n": 1, "hostnames": ["127.0.0.1:8080"]})", three, rules));
    CHECK(plan.names == std::vector<std::string>{"127.0.0.1:8080"});
    CHECK(error_of(add(R"({"n": 1, "hostnames": ["S5"]})", three, rules)).find("HOST:PORT") !=
          std::string::npos);
    CHECK(error_of(add(R"({"n": 2, "hostnames": ["127.0.0.1:8080"]})", three, rules))
              .find("cannot invent") != std::string::npos);
}

TEST_CASE("/rm plans given names first, then picks the rest") {
    auto plan = std::get<remove_plan>(plan_rm(R"({"n": 2, "hostnames": ["Server3"]})"));
    CHECK(plan.names == std::vector<std::string>{"Server3", "Server1"});
    plan = std::get<remove_plan>(plan_rm(""));
    CHECK(plan.names.size() == 1);
    plan = std::get<remove_plan>(plan_rm(R"({"n": 3})"));
    CHECK(plan.names.size() == 3);
    CHECK(error_of(plan_rm(R"({"n": 1, "hostnames": ["Server1", "Server2"]})")) ==
          "<Error> Length of hostname list is more than removable instances");
    CHECK(error_of(plan_rm(R"({"n": 4})")).find("only 3 exist") != std::string::npos);
    CHECK(error_of(plan_rm(R"({"n": 1, "hostnames": ["S9"]})")).find("is not a replica") !=
          std::string::npos);
}

TEST_CASE("/rep renders jsonify's bytes") {
    CHECK(render_replicas(three) ==
          "{\"message\":{\"N\":3,\"replicas\":[\"Server1\",\"Server2\",\"Server3\"]},"
          "\"status\":\"successful\"}\n");
    CHECK(render_replicas({}) ==
          "{\"message\":{\"N\":0,\"replicas\":[]},\"status\":\"successful\"}\n");
}

TEST_CASE("replica names follow container naming rules") {
    CHECK(valid_replica_name("Server1"));
    CHECK(valid_replica_name("s_1.a-b"));
    CHECK_FALSE(valid_replica_name(""));
    CHECK_FALSE(valid_replica_name("_x"));
    CHECK_FALSE(valid_replica_name("a/b"));
    CHECK_FALSE(valid_replica_name(std::string(64, 'a')));
}

TEST_CASE("routing keys come from the configured source, else the random id") {
    http::request_parser parser;
    const std::string raw = "GET /p/q?user=42&x=1 HTTP/1.1\r\nHost: h\r\nX-Request-ID: abc\r\n"
                            "Cookie: a=1; session=s9\r\n\r\n";
    auto step = parser.feed(raw);
    REQUIRE(step.event == http::parse_event::headers_complete);
    const auto& head = parser.head();

    auto source = [](std::string_view text) { return *key_source::parse(text); };
    CHECK(extract_key(source("header:X-Request-ID"), head, "1.2.3.4", 123456).hash ==
          hashing::make_request_key(std::string_view{"abc"}).hash);
    CHECK(extract_key(source("header:X-Missing"), head, "", 123456).number == 123456u);
    CHECK(extract_key(source("cookie:session"), head, "", 1).hash ==
          hashing::make_request_key(std::string_view{"s9"}).hash);
    CHECK(extract_key(source("query:user"), head, "", 1).number == 42u);
    CHECK(extract_key(source("path"), head, "", 1).hash ==
          hashing::make_request_key(std::string_view{"/p/q"}).hash);
    CHECK(extract_key(source("client-ip"), head, "1.2.3.4", 1).hash ==
          hashing::make_request_key(std::string_view{"1.2.3.4"}).hash);
    CHECK(extract_key(source("random"), head, "", 777777).number == 777777u);
    CHECK_FALSE(key_source::parse("header:").has_value());
    CHECK_FALSE(key_source::parse("bogus").has_value());
}
