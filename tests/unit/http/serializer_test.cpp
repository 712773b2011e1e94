#include <catch2/catch.hpp>

#include <string>

#include "http/request_parser.hpp"
#include "http/response_parser.hpp"
#include "http/serializer.hpp"

TEST_CASE("serializer: reason phrases", "[http]") {
    CHECK(http::reason_phrase(200) == "OK");
    CHECK(http::reason_phrase(413) == "Content Too Large");
    CHECK(http::reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(http::reason_phrase(503) == "Service Unavailable");
    CHECK(http::reason_phrase(299) == "Unknown");
}

TEST_CASE("serializer: Content-Length response, exact bytes", "[http]") {
    std::string out = "previous ";
    http::append_response(out, {.status = 200, .content_type = "application/json"}, "{}");
    CHECK(out == "previous HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\n\r\n{}");
    out.clear();
    http::append_response(out, {.status = 400, .keep_alive = false}, "x");
    CHECK(out == "HTTP/1.1 400 Bad Request\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
    out.clear();
    http::append_response(out, {.status = 200, .version = http::version::http_1_0}, "");
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    out.clear();
    http::append_response(out, {.status = 204}, "ignored");
    CHECK(out == "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_CASE("serializer: reuses the caller's capacity", "[http]") {
    std::string out;
    out.reserve(1024);
    const char* before = out.data();
    for (int i = 0; i < 100; ++i) {
        out.clear();
        http::append_response(out, {.status = 200}, "hello");
    }
    CHECK(out.data() == before);
}

TEST_CASE("serializer: chunk size lines", "[http]") {
    http::chunk_header_buffer buffer;
    CHECK(http::chunk_header(buffer, 0) == "0\r\n");
    CHECK(http::chunk_header(buffer, 5) == "5\r\n");
    CHECK(http::chunk_header(buffer, 16384) == "4000\r\n");
    CHECK(http::chunk_header(buffer, SIZE_MAX) == "ffffffffffffffff\r\n");
}

TEST_CASE("serializer: chunked stream parses back", "[http]") {
    std::string out;
    http::header_field extra[] = {{"X-Request-ID", "42"}};
    http::append_response_head(out, {.status = 200, .extra_headers = extra}, std::nullopt);
    http::append_chunk(out, "hello ");
    http::append_chunk(out, "");
    http::append_chunk_header(out, 5);
    out += "world";
    out += http::chunk_terminator;
    http::append_last_chunk(out);
    CHECK(out.find("Transfer-Encoding: chunked\r\n") != std::string::npos);

    http::response_parser p;
    std::string_view in = out;
    std::string body;
    bool complete = false;
    while (!complete) {
        auto s = p.feed(in);
        in.remove_prefix(s.consumed);
        REQUIRE(s.event != http::parse_event::error);
        REQUIRE(s.event != http::parse_event::need_more);
        if (s.event == http::parse_event::headers_complete) {
            CHECK(p.head().headers.find("x-request-id") == std::optional<std::string_view>("42"));
        }
        body.append(s.body);
        complete = s.event == http::parse_event::message_complete;
    }
    CHECK(body == "hello world");
    CHECK(in.empty());
}

TEST_CASE("serializer: request head parses back", "[http]") {
    std::string out;
    http::header_field headers[] = {{"Host", "replica:8080"}, {"X-Forwarded-For", "10.0.0.1"}};
    http::append_request_head(out, "POST", "/v1.41/containers/create?name=S1", headers, 2);
    out += "{}";
    CHECK(out.starts_with(
        "POST /v1.41/containers/create?name=S1 HTTP/1.1\r\nHost: replica:8080\r\n"));
    http::request_parser p;
    auto s = p.feed(out);
    REQUIRE(s.event == http::parse_event::headers_complete);
    CHECK(p.head().path == "/v1.41/containers/create");
    CHECK(p.head().query == "name=S1");
    CHECK(p.head().content_length == std::optional<std::uint64_t>(2));
    std::string chunked;
    http::append_request_head(chunked, "PUT", "/x", headers, std::nullopt, true);
    CHECK(chunked.find("Transfer-Encoding: chunked\r\n\r\n") != std::string::npos);
}
