#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drive.hpp"
#include "http/request_parser.hpp"

using http_test::run;
using http_test::run_bytewise;
using http_test::run_whole;
using http_test::transcript;

namespace {

// Whole, split at every byte boundary, and byte by byte must all agree.
void check_split_invariance(const std::string& input, std::uint64_t body_limit = 0) {
    transcript whole = run_whole(input, body_limit);
    for (std::size_t i = 0; i <= input.size(); ++i) {
        http::request_parser p;
        transcript split = run(p, {input.substr(0, i), input.substr(i)}, body_limit);
        INFO("split at " << i);
        REQUIRE(split == whole);
    }
    REQUIRE(run_bytewise(input, body_limit) == whole);
}

int error_of(const std::string& input) {
    transcript t = run_whole(input);
    transcript b = run_bytewise(input);
    INFO(input);
    CHECK(t.error_status == b.error_status);
    return t.error_status;
}

const std::string simple_get = "GET /home?x=1&y=2 HTTP/1.1\r\n"
                               "Host: lb:5000\r\n"
                               "User-Agent: curl/7.88.1\r\n"
                               "Accept: */*\r\n"
                               "X-Request-ID:   123456  \r\n"
                               "\r\n";

const std::string post_cl = "POST /add HTTP/1.1\r\n"
                            "Host: lb\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: 33\r\n"
                            "\r\n"
                            "{\"n\": 2, \"hostnames\": [\"S5\",\"a\"]}";

const std::string chunked_post = "POST /rm HTTP/1.1\r\n"
                                 "Host: lb\r\n"
                                 "Transfer-Encoding: chunked\r\n"
                                 "\r\n"
                                 "5;name=value\r\n"
                                 "hello\r\n"
                                 "6;ext\r\n"
                                 " world\r\n"
                                 "A\r\n"
                                 "0123456789\r\n"
                                 "0\r\n"
                                 "Checksum: abc\r\n"
                                 "X-Trailer: 1\r\n"
                                 "\r\n";

} // namespace

TEST_CASE("request_parser: simple GET head", "[http]") {
    http::request_parser p;
    http::parse_step s = p.feed(simple_get);
    REQUIRE(s.event == http::parse_event::headers_complete);
    REQUIRE(s.consumed == simple_get.size());
    const http::request_head& h = p.head();
    CHECK(h.method == http::method::get);
    CHECK(h.method_name == "GET");
    CHECK(h.target == "/home?x=1&y=2");
    CHECK(h.path == "/home");
    CHECK(h.query == "x=1&y=2");
    CHECK(h.version == http::version::http_1_1);
    REQUIRE(h.headers.size() == 4);
    CHECK(h.headers[0].name == "Host");
    CHECK(h.headers.find("x-request-id") == std::optional<std::string_view>("123456"));
    CHECK(h.headers.find("HOST") == std::optional<std::string_view>("lb:5000"));
    CHECK_FALSE(h.headers.find("cookie"));
    CHECK_FALSE(h.content_length);
    CHECK_FALSE(h.chunked);
    CHECK(h.keep_alive);
    CHECK_FALSE(h.expect_continue);
    CHECK_FALSE(h.upgrade);
    s = p.feed({});
    CHECK(s.event == http::parse_event::message_complete);
    CHECK(s.consumed == 0);
    CHECK_FALSE(p.in_message());
    s = p.feed({});
    CHECK(s.event == http::parse_event::need_more);
}

TEST_CASE("request_parser: Content-Length body and message_complete without more input", "[http]") {
    http::request_parser p;
    std::string_view in = post_cl;
    auto s = p.feed(in);
    REQUIRE(s.event == http::parse_event::headers_complete);
    in.remove_prefix(s.consumed);
    CHECK(p.head().content_length == std::optional<std::uint64_t>(33));
    s = p.feed(in);
    REQUIRE(s.event == http::parse_event::body);
    CHECK(s.body == "{\"n\": 2, \"hostnames\": [\"S5\",\"a\"]}");
    CHECK(s.consumed == in.size());
    s = p.feed({});
    CHECK(s.event == http::parse_event::message_complete);
}

TEST_CASE("request_parser: split invariance", "[http]") {
    check_split_invariance(simple_get);
    check_split_invariance(post_cl);
    check_split_invariance(chunked_post);
    check_split_invariance(simple_get + post_cl + chunked_post);
}

TEST_CASE("request_parser: chunked with extensions and trailers", "[http]") {
    transcript t = run_whole(chunked_post);
    REQUIRE(t.error_status == 0);
    REQUIRE(t.messages.size() == 1);
    CHECK(t.messages[0].find("chunked") != std::string::npos);
    CHECK(t.messages[0].ends_with(" | hello world0123456789"));
    // Trailers are dropped, not added to the head.
    CHECK(t.messages[0].find("Checksum") == std::string::npos);
}

TEST_CASE("request_parser: pipelining stops at each message boundary", "[http]") {
    const std::string three = simple_get + post_cl + chunked_post;
    http::request_parser p;
    std::string_view in = three;
    int completes = 0;
    std::vector<std::string> targets;
    while (!in.empty()) {
        auto s = p.feed(in);
        in.remove_prefix(s.consumed);
        REQUIRE(s.event != http::parse_event::error);
        if (s.event == http::parse_event::headers_complete) {
            targets.emplace_back(p.head().target);
        }
        if (s.event == http::parse_event::message_complete) {
            ++completes;
            if (completes == 1) {
                CHECK(in.starts_with("POST /add"));
            } else if (completes == 2) {
                CHECK(in.starts_with("POST /rm"));
            }
        }
    }
    CHECK(p.feed(in).event == http::parse_event::need_more);
    CHECK(completes == 3);
    CHECK(targets == std::vector<std::string>{"/home?x=1&y=2", "/add", "/rm"});
    transcript t = run_whole(three);
    CHECK(t.messages.size() == 3);
    CHECK(t.error_status == 0);
}

TEST_CASE("request_parser: header views survive buffer recycling and reuse the arena", "[http]") {
    http::request_parser p;
    for (int round = 0; round < 3; ++round) {
        std::string buf = simple_get;
        auto s = p.feed(buf);
        REQUIRE(s.event == http::parse_event::headers_complete);
        std::fill(buf.begin(), buf.end(), 'Z');
        CHECK(p.head().target == "/home?x=1&y=2");
        CHECK(p.head().headers.find("user-agent") ==
              std::optional<std::string_view>("curl/7.88.1"));
        REQUIRE(p.feed({}).event == http::parse_event::message_complete);
    }
}

TEST_CASE("request_parser: oversize head is 431", "[http]") {
    std::string big = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(17000, 'a') + "\r\n\r\n";
    CHECK(error_of(big) == 431);
    std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 200; ++i) {
        many += "X-" + std::to_string(i) + ": 1\r\n";
    }
    many += "\r\n";
    CHECK(error_of(many) == 431);
    std::string long_target = "GET /" + std::string(20000, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(error_of(long_target) == 431);
    // Just under the limit passes.
    std::string fits =
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16000, 'a') + "\r\n\r\n";
    CHECK(error_of(fits) == 0);
    // A custom limit.
    http::parse_limits limits;
    limits.max_head_bytes = 64;
    http::request_parser small(limits);
    CHECK(run(small, {simple_get}).error_status == 431);
}

TEST_CASE("request_parser: body over the limit is 413", "[http]") {
    std::string big_cl = "POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n";
    CHECK(error_of(big_cl) == 413);

    // The limit set after headers_complete wins, for Content-Length...
    http::request_parser p;
    auto s = p.feed(post_cl);
    REQUIRE(s.event == http::parse_event::headers_complete);
    CHECK_FALSE(p.set_body_limit(10));
    CHECK(p.feed(std::string_view(post_cl).substr(s.consumed)).event == http::parse_event::error);
    CHECK(p.error().status == 413);
    CHECK(p.feed("more").event == http::parse_event::error); // sticky

    // ... and for chunked totals as they grow.
    CHECK(run_whole(chunked_post, 21).error_status == 0);
    CHECK(run_whole(chunked_post, 20).error_status == 413);
    CHECK(run_bytewise(chunked_post, 15).error_status == 413);
    std::string huge_chunk = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "100000\r\nabc";
    CHECK(error_of(huge_chunk) == 413);

    // Raising the limit lets a large body through.
    http::request_parser big;
    std::string body(100000, 'b');
    std::string req = "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + body;
    transcript t = run(big, {req}, 200000);
    REQUIRE(t.messages.size() == 1);
    CHECK(t.error_status == 0);
}

TEST_CASE("request_parser: smuggling attempts are 400", "[http]") {
    const std::string head = "POST / HTTP/1.1\r\nHost: x\r\n";
    CHECK(error_of(head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") ==
          400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n") ==
          400);
    CHECK(error_of(head + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: identity\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head +
                   "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") ==
          400);
    CHECK(error_of(head + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") == 400);
    CHECK(error_of(head + "Content-Length: 5, 5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: +5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: -5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: 5 5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: 0x5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "Content-Length: 99999999999999999999999\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\n identity\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Content-Length : 5\r\n\r\nhello") == 400);
    CHECK(error_of(head + "X-Folded: a\r\n b\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n") == 400);
    CHECK(error_of(head + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\n\r\n") == 400);
}

TEST_CASE("request_parser: bare CR and LF, bad characters and garbage are 400", "[http]") {
    CHECK(error_of("GET / HTTP/1.1\rHost: x\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01"
                   "b\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f"
                   "b\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHo(st: x\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost x\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n") == 400);
    CHECK(error_of("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n") == 400);
    CHECK(error_of("HELLO WORLD\r\n\r\n") == 400);
    CHECK(error_of(std::string("\x00\x01\x02\x03garbage", 11)) == 400);
    CHECK(error_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400); // a TLS hello
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02") == 400);
    CHECK(error_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505);
    CHECK(error_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n") == 505);
    CHECK(error_of("GET / HTTP/0.9\r\n\r\n") == 505);
    transcript t = run_whole("nonsense");
    CHECK(t.error_status == 400);
    CHECK_FALSE(t.error_reason.empty());
}

TEST_CASE("request_parser: bare LF line endings are 400", "[http]") {
    // RFC 9112 2.2 allows accepting a lone LF; we do not, so that no peer can read the
    // head differently from us.
    CHECK(error_of("GET / HTTP/1.1\nHost: x\n\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\nY: z\r\n\r\n") == 400);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: x\r\n\nY: z\r\n\r\n") == 400);
    CHECK(error_of("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(error_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\nhello\n0\n\n") == 400);
    CHECK(error_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\n0\r\n\r\n") == 400);
    // Leading CRLF between pipelined requests is tolerated (RFC 9112 2.2).
    CHECK(error_of("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
}

TEST_CASE("request_parser: keep-alive decisions", "[http]") {
    // The head is a view into its parser: keep one parser per request alive.
    std::vector<std::unique_ptr<http::request_parser>> parsers;
    std::vector<std::unique_ptr<std::string>> inputs;
    auto head_of = [&](const std::string& req) -> const http::request_head& {
        parsers.push_back(std::make_unique<http::request_parser>());
        auto s = parsers.back()->feed(req);
        REQUIRE(s.event == http::parse_event::headers_complete);
        return parsers.back()->head();
    };
    CHECK(head_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive);
    CHECK_FALSE(head_of("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
    CHECK_FALSE(head_of("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n").keep_alive);
    CHECK_FALSE(head_of("GET / HTTP/1.0\r\n\r\n").keep_alive);
    CHECK(head_of("GET / HTTP/1.0\r\n\r\n").version == http::version::http_1_0);
    CHECK(head_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    CHECK(head_of("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: x\r\n\r\n").keep_alive);
    auto expect =
        head_of("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    CHECK(expect.expect_continue);
    auto up =
        head_of("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(up.upgrade);
    auto abs = head_of("GET http://example.com:80/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n");
    CHECK(abs.path == "/a/b");
    CHECK(abs.query == "c=d");
    auto odd = head_of("DELETE /rm HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(odd.method == http::method::delete_);
    auto other = head_of("PROPFIND /x HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(other.method == http::method::other);
    CHECK(other.method_name == "PROPFIND");
}

TEST_CASE("request_parser: after Connection: close or upgrade no more requests", "[http]") {
    http::request_parser p;
    std::string two = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + simple_get;
    transcript t = run(p, {two});
    CHECK(t.messages.size() == 1);
    CHECK(t.error_status == 400);

    http::request_parser u;
    std::string up =
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x85"
        "binary";
    t = run(u, {up});
    CHECK(t.messages.size() == 1);
    CHECK(t.error_status == 501);
}

TEST_CASE("request_parser: errors are sticky and reset recovers", "[http]") {
    http::request_parser p;
    CHECK(p.feed("BAD\x01\r\n").event == http::parse_event::error);
    CHECK(p.feed(simple_get).event == http::parse_event::error);
    p.reset();
    CHECK(p.feed(simple_get).event == http::parse_event::headers_complete);
}

TEST_CASE("request_parser: bodies of pipelined requests, split anywhere", "[http]") {
    const std::string input = post_cl + chunked_post + simple_get;
    for (std::size_t cut = 0; cut <= input.size(); cut += 7) {
        http::request_parser r;
        std::vector<std::string> bodies;
        std::string body;
        std::string pending;
        for (std::string piece : {input.substr(0, cut), input.substr(cut)}) {
            pending += piece;
            std::string_view in = pending;
            for (;;) {
                auto s = r.feed(in);
                in.remove_prefix(s.consumed);
                REQUIRE(s.event != http::parse_event::error);
                if (s.event == http::parse_event::need_more) {
                    break;
                }
                if (s.event == http::parse_event::body) {
                    body += s.body;
                } else if (s.event == http::parse_event::message_complete) {
                    bodies.push_back(std::exchange(body, {}));
                }
            }
            pending.assign(in);
        }
        REQUIRE(bodies.size() == 3);
        CHECK(bodies[0] == post_cl.substr(post_cl.find("\r\n\r\n") + 4));
        CHECK(bodies[1] == "hello world0123456789");
        CHECK(bodies[2].empty());
    }
}

TEST_CASE("request_parser: route limit after headers_complete", "[http]") {
    http::request_parser r;
    std::string_view in = post_cl;
    auto s = r.feed(in);
    REQUIRE(s.event == http::parse_event::headers_complete);
    in.remove_prefix(s.consumed);
    CHECK_FALSE(r.set_body_limit(8));
    s = r.feed(in);
    CHECK(s.event == http::parse_event::error);
    CHECK(r.error().status == 413);
}
