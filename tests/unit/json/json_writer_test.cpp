#include <catch2/catch.hpp>

#include <string>

#include <simdjson.h>

#include "json/json_writer.hpp"

namespace {

// Parses the writer's output back; the string value must come back byte for byte.
std::string round_trip(std::string_view s) {
    std::string out;
    json::json_writer w(out);
    w.begin_object().key("k").value(s).end_object();
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE(parser.parse(out).get(root) == simdjson::SUCCESS);
    std::string_view back;
    REQUIRE(root["k"].get_string().get(back) == simdjson::SUCCESS);
    return std::string(back);
}

} // namespace

TEST_CASE("json_writer: escaping", "[json]") {
    std::string out;
    json::append_string(out, "a\"b\\c\n\r\t\b\f\x01\x1f/\x7f");
    // Python's json.dumps: DEL escaped too, every non-ASCII character as \uXXXX.
    CHECK(out == "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\\u007f\"");
    out.clear();
    json::append_string(out, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(out == "\"h\\u00e9llo \\u20ac \\ud83d\\ude00\"");
    out.clear();
    json::append_string(out, "bad \xff \xc0\xaf \xed\xa0\x80 \xe2\x82");
    CHECK(out == "\"bad \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\"");
}

TEST_CASE("json_writer: round trips through simdjson", "[json]") {
    std::string all_bytes;
    for (int c = 1; c < 128; ++c) {
        all_bytes.push_back(static_cast<char>(c));
    }
    CHECK(round_trip(all_bytes) == all_bytes);
    CHECK(round_trip(std::string("nul\0inside", 10)) == std::string("nul\0inside", 10));
    CHECK(round_trip("\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80") ==
          "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80");
    CHECK(round_trip("") == "");
    // Invalid UTF-8 still yields valid JSON.
    CHECK(round_trip("x\xff") == "x\xef\xbf\xbd");
}

TEST_CASE("json_writer: structure, compact and with sorted keys as jsonify writes it", "[json]") {
    std::string out;
    json::json_writer w(out);
    w.begin_object().key("N").value(3).key("big").value(std::uint64_t{18446744073709551615ULL});
    w.key("empty").begin_array().end_array().key("neg").value(-5L).key("none").null();
    w.key("obj").begin_object().end_object().key("ok").value(true).key("replicas").begin_array();
    for (auto name : {"Server1", "Server2"}) {
        w.value(name);
    }
    w.end_array().end_object();
    // json.dumps(..., separators=(",", ":"), sort_keys=True) of the same object.
    CHECK(out == R"({"N":3,"big":18446744073709551615,"empty":[],"neg":-5,"none":null,"obj":{},)"
                 R"("ok":true,"replicas":["Server1","Server2"]})");
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    CHECK(parser.parse(out).get(root) == simdjson::SUCCESS);

    std::string free_order;
    json::json_writer any{free_order, json::key_order::as_written};
    any.begin_object().key("b").value(1).key("a").value(2).end_object();
    CHECK(free_order == R"({"b":1,"a":2})");
}

TEST_CASE("json_writer: the standard answers are jsonify's bytes", "[json]") {
    std::string out;
    json::append_status_message(out, "Hello from Server: 1", true);
    CHECK(out == "{\"message\":\"Hello from Server: 1\",\"status\":\"successful\"}\n");
    out.clear();
    json::append_status_message(out, "<Error> '/other' endpoint does not exist in server replicas",
                                false);
    CHECK(out == "{\"message\":\"<Error> '/other' endpoint does not exist in server "
                 "replicas\",\"status\":\"failure\"}\n");
    out.clear();
    json::append_status_raw(out, R"({"N":1,"replicas":["S1"]})", true);
    CHECK(out == "{\"message\":{\"N\":1,\"replicas\":[\"S1\"]},\"status\":\"successful\"}\n");
}
