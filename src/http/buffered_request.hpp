// Whole-request assembly for routes that want the body in one piece (control API,
// replica): runs a request_parser and collects the decoded body into a std::string
// reused across requests. Owned by one connection on one thread; the body buffer grows
// to the largest body seen (bounded by the body limit) and is then reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/request_parser.hpp"

namespace http {

class buffered_request {
public:
    enum class status : std::uint8_t {
        need_more,        // all input consumed
        headers_complete, // head() ready: pick the route, set_body_limit(), maybe 100-continue
        complete,         // head() and body() hold the whole request
        error,            // answer error().status and close
    };
    struct step {
        buffered_request::status status = status::need_more;
        std::size_t consumed = 0;
    };

    explicit buffered_request(const parse_limits& limits = {}) : parser_(limits) {}

    // Same contract as request_parser::feed, but body events are absorbed: it stops only
    // at headers_complete, complete, error or need_more. The body is cleared when the
    // next request starts (the first feed() after complete).
    step feed(std::string_view input);

    const request_head& head() const { return parser_.head(); }
    std::string_view body() const { return body_; }
    const parse_error& error() const { return parser_.error(); }
    bool set_body_limit(std::uint64_t limit) { return parser_.set_body_limit(limit); }
    bool in_message() const { return parser_.in_message(); }

private:
    request_parser parser_;
    std::string body_;
    bool complete_ = false;
};

} // namespace http
