// Server-side HTTP/1.1 request parser in pull style: feed() consumes received bytes up
// to the next event and says how many it used, so pipelined requests stay in the
// caller's buffer. No I/O. Owned by one connection on one thread; it copies the head
// into an arena reused across messages (allocations only while warming up), and never
// keeps a pointer into the caller's buffers past the step that returned it.
//
// Driving it:
//
//     std::string_view in = received;             // bytes not yet consumed
//     for (;;) {
//         http::parse_step s = parser.feed(in);
//         in.remove_prefix(s.consumed);
//         switch (s.event) {
//         case http::parse_event::need_more:       // in is now empty: receive more
//         case http::parse_event::headers_complete: // parser.head(); set_body_limit()
//         case http::parse_event::body:             // s.body: a piece of decoded body
//         case http::parse_event::message_complete: // answer; loop for the next request
//         case http::parse_event::error:            // answer parser.error().status, close
//         }
//     }
//
// NOTE: keep calling feed() after every event, even with empty input: message_complete
// can follow the last body byte without further input. Only need_more means "wait".
#pragma once

#include <cstdint>
#include <string_view>

#include "http/message_parser.hpp"
#include "http/parse_step.hpp"
#include "http/request_head.hpp"

namespace http {

class request_parser {
public:
    explicit request_parser(const parse_limits& limits = {});

    // Consumes input up to and including the next event. Never throws; after an error
    // every further call returns the same error. After message_complete the parser is
    // ready for the next request, unless head().upgrade (then feed reports 501) or
    // !head().keep_alive (the caller answers and closes; more bytes are a 400).
    // The step's body view points into `input`; everything else it keeps is copied.
    parse_step feed(std::string_view input);

    // Valid from headers_complete until the next message begins.
    const request_head& head() const { return head_; }
    const parse_error& error() const { return core_.error(); }

    // Body limit for the current request, from headers_complete on (default
    // parse_limits::default_body_limit). Returns false when Content-Length already
    // exceeds it: answer 413 now, or let the next feed() report it.
    bool set_body_limit(std::uint64_t limit) { return core_.set_body_limit(limit); }

    // True between the first byte of a request and its message_complete: an idle
    // keep-alive connection can be closed without answering.
    bool in_message() const { return core_.in_message(); }

    void reset() { core_.reset(); }
    // Gives back what a large head made the parser allocate (message_parser::trim).
    void trim() noexcept { core_.trim(); }

private:
    message_parser core_;
    request_head head_;
};

} // namespace http
