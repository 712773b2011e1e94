// Shared vocabulary of the pull parsers: the events a feed() step reports, the error a
// failed message carries, and the limits a parser enforces. Plain values, no thread
// affinity, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace http {

enum class parse_event : std::uint8_t {
    need_more,        // every byte of the input was consumed; feed more when it arrives
    headers_complete, // the head is ready; body, if any, follows
    body,             // parse_step::body holds decoded body bytes (de-chunked)
    message_complete, // the message ended; the parser is ready for the next one
    error,            // the parser is stuck; error() says why; answer and close
};

struct parse_step {
    parse_event event = parse_event::need_more;
    // Bytes of the input this step used. The caller drops them and feeds the rest again.
    std::size_t consumed = 0;
    // For parse_event::body only: a view into the caller's input, valid as long as it is.
    std::string_view body;
};

struct parse_error {
    // 0 while no error. Request side: 400, 413, 431, 505 or 501 (upgrade); the value to
    // answer with. Response side: always 502, the upstream is broken.
    int status = 0;
    // A static string, short enough for the JSON error body.
    std::string_view reason;
};

struct parse_limits {
    // Request line (or status line) plus header fields plus the blank line.
    std::size_t max_head_bytes = 16 * 1024;
    std::size_t max_header_count = 100;
    // Body limit a message starts with; request callers usually lower or raise it per
    // route after headers_complete with set_body_limit().
    std::uint64_t default_body_limit = 64 * 1024;
};

} // namespace http
