#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "http/response_parser.hpp"

namespace {

struct response_result {
    std::vector<int> statuses;
    std::vector<std::string> bodies;
    std::vector<bool> keep_alive;
    std::vector<bool> has_body;
    int error_status = 0;
    bool operator==(const response_result&) const = default;
};

// Feeds pieces, then signals EOF when `eof` is set.
response_result run(http::response_parser& p, const std::vector<std::string>& pieces, bool eof) {
    response_result r;
    std::string pending;
    std::string body;
    auto handle = [&](const http::parse_step& s) {
        if (s.event == http::parse_event::headers_complete) {
            r.statuses.push_back(p.head().status);
            r.keep_alive.push_back(p.head().keep_alive);
            r.has_body.push_back(p.head().has_body);
        } else if (s.event == http::parse_event::body) {
            body.append(s.body);
        } else if (s.event == http::parse_event::message_complete) {
            r.bodies.push_back(body);
            body.clear();
        } else if (s.event == http::parse_event::error) {
            r.error_status = p.error().status;
        }
    };
    for (const std::string& piece : pieces) {
        pending += piece;
        std::string_view in = pending;
        for (;;) {
            http::parse_step s = p.feed(in);
            in.remove_prefix(s.consumed);
            handle(s);
            if (s.event == http::parse_event::need_more || s.event == http::parse_event::error) {
                break;
            }
        }
        if (r.error_status != 0) {
            return r;
        }
        pending.assign(in);
    }
    if (eof) {
        handle(p.finish());
    }
    return r;
}

response_result run_all_ways(const std::string& input, bool eof,
                             http::method m = http::method::get) {
    http::response_parser whole;
    whole.set_request_method(m);
    response_result expected = run(whole, {input}, eof);
    for (std::size_t i = 0; i <= input.size(); ++i) {
        http::response_parser p;
        p.set_request_method(m);
        INFO("split at " << i);
        REQUIRE(run(p, {input.substr(0, i), input.substr(i)}, eof) == expected);
    }
    return expected;
}

} // namespace

TEST_CASE("response_parser: Content-Length", "[http]") {
    auto r = run_all_ways(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
        false);
    CHECK(r.statuses == std::vector<int>{200});
    CHECK(r.bodies == std::vector<std::string>{"hello"});
    CHECK(r.keep_alive == std::vector<bool>{true});

    http::response_parser p;
    auto s = p.feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(s.event == http::parse_event::headers_complete);
    CHECK(p.head().status == 404);
    CHECK(p.head().reason == "Not Found");
    CHECK(p.head().content_length == std::optional<std::uint64_t>(0));
    CHECK(p.feed({}).event == http::parse_event::message_complete);
}

TEST_CASE("response_parser: chunked, split across chunks, pipelined keep-alive", "[http]") {
    std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\nX-T: 1\r\n\r\n";
    auto r = run_all_ways(chunked + chunked, false);
    CHECK(r.bodies == std::vector<std::string>{"{\"a\":1}", "{\"a\":1}"});
    CHECK(r.keep_alive == std::vector<bool>{true, true});
}

TEST_CASE("response_parser: read until close", "[http]") {
    auto r = run_all_ways("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstream of bytes", true);
    CHECK(r.bodies == std::vector<std::string>{"stream of bytes"});
    CHECK(r.keep_alive == std::vector<bool>{false});
    auto r10 = run_all_ways("HTTP/1.0 200 OK\r\n\r\nold", true);
    CHECK(r10.bodies == std::vector<std::string>{"old"});
}

TEST_CASE("response_parser: no body after HEAD, 1xx, 204, 304", "[http]") {
    auto head = run_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                             false, http::method::head);
    CHECK(head.bodies == std::vector<std::string>{"", ""});
    CHECK(head.has_body == std::vector<bool>{false, false});
    auto no_content = run_all_ways("HTTP/1.1 204 No Content\r\n\r\n"
                                   "HTTP/1.1 304 Not Modified\r\nContent-Length: 55\r\n\r\n"
                                   "HTTP/1.1 100 Continue\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                   false);
    CHECK(no_content.statuses == std::vector<int>{204, 304, 100, 200});
    CHECK(no_content.bodies == std::vector<std::string>{"", "", "", "ok"});
}

TEST_CASE("response_parser: truncated and malformed responses are 502", "[http]") {
    http::response_parser p;
    CHECK(run(p, {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, true).error_status == 502);
    http::response_parser q;
    CHECK(run(q, {"HTTP/1.1 200 OK\r\nContent-Le"}, true).error_status == 502);
    http::response_parser r;
    CHECK(run(r, {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"},
              false)
              .error_status == 502);
    http::response_parser g;
    CHECK(run(g, {"SSH-2.0-OpenSSH\r\n"}, false).error_status == 502);
    // Clean EOF between responses is not an error.
    http::response_parser idle;
    CHECK(idle.finish().event == http::parse_event::need_more);
}
