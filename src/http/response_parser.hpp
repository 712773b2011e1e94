// Client-side HTTP/1.1 response parser, same pull style as request_parser: bodies by
// Content-Length, chunked (de-chunked) or read until close (finish() at EOF); no body
// after HEAD, 1xx, 204 and 304. No I/O. Owned by one upstream connection on one thread;
// the head is copied into an arena reused across responses.
//
// Driving it: call set_request_method() before the response to each request, then
// feed() exactly as with request_parser; at EOF call finish(), which returns
// message_complete for a read-until-close body, error for a truncated response, and
// need_more when the connection closed between responses. Any error means the upstream
// misbehaved: error().status is 502.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "http/header_list.hpp"
#include "http/message_parser.hpp"
#include "http/method.hpp"
#include "http/parse_step.hpp"

namespace http {

struct response_head {
    int status = 0;
    std::string_view reason;
    http::version version = http::version::http_1_1;
    header_list headers;
    std::optional<std::uint64_t> content_length; // as announced, even when no body follows
    bool chunked = false;
    bool has_body = true; // false after HEAD, for 1xx, 204 and 304
    // False for 1.0 without keep-alive, "Connection: close", and read-until-close bodies.
    bool keep_alive = false;
};

// Responses come from our own replicas or the Docker daemon: a larger head limit and no
// body limit by default (proxied bodies are streamed).
inline parse_limits response_limits() {
    parse_limits l;
    l.max_head_bytes = 64 * 1024;
    l.default_body_limit = std::numeric_limits<std::uint64_t>::max();
    return l;
}

class response_parser {
public:
    explicit response_parser(const parse_limits& limits = response_limits());

    // The method of the request this response answers; HEAD means no body. Persists
    // until changed.
    void set_request_method(method m) { core_.set_no_body_expected(m == method::head); }

    parse_step feed(std::string_view input);
    parse_step finish() { return core_.finish(); }

    // Valid from headers_complete until the next response begins.
    const response_head& head() const { return head_; }
    const parse_error& error() const { return core_.error(); }
    bool set_body_limit(std::uint64_t limit) { return core_.set_body_limit(limit); }
    bool in_message() const { return core_.in_message(); }
    void reset() { core_.reset(); }
    // Gives back what a large head made the parser allocate (message_parser::trim).
    void trim() noexcept { core_.trim(); }

private:
    message_parser core_;
    response_head head_;
};

} // namespace http
