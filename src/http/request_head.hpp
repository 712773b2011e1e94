// The parsed head of one request: request line, header fields and the framing and
// connection decisions derived from them. A view: every string points into the
// request_parser's arena and is valid until the parser begins the next message (the
// next feed() after message_complete). No allocation, owned by the connection's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/header_list.hpp"
#include "http/method.hpp"

namespace http {

struct request_head {
    http::method method = http::method::other;
    std::string_view method_name; // exact bytes, also for method::other
    std::string_view target;      // as sent: origin-form, absolute-form, '*' or authority
    std::string_view path;        // target without query and fragment ("/a/b")
    std::string_view query;       // after '?', without it; empty when none
    http::version version = http::version::http_1_1;
    header_list headers;
    std::optional<std::uint64_t> content_length;
    bool chunked = false;
    // HTTP/1.0: close unless "Connection: keep-alive"; 1.1: keep alive unless "close".
    bool keep_alive = false;
    bool expect_continue = false; // "Expect: 100-continue"
    bool upgrade = false;         // Upgrade + Connection: upgrade, or CONNECT
};

// Splits a request target into path and query (absolute-form keeps only the path).
void split_target(std::string_view target, std::string_view& path, std::string_view& query);

} // namespace http
