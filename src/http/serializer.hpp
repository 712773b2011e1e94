// HTTP/1.1 serialization by appending to a caller-owned std::string that the caller
// reuses (a connection's output buffer): status and request lines, header fields,
// Content-Length framed messages and chunked framing for streaming. No Date header and
// no Server header: minimal correct output. No state; any thread. Allocates only when
// the caller's string has to grow.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/header_list.hpp"
#include "http/method.hpp"

namespace http {

// "OK", "Not Found", ...; "Unknown" for codes outside the table.
std::string_view reason_phrase(int status);

struct response_options {
    int status = 200;
    std::string_view content_type; // omitted when empty
    bool keep_alive = true;
    // The request's version: a 1.0 client needs "Connection: keep-alive" to keep alive.
    http::version version = http::version::http_1_1;
    std::span<const header_field> extra_headers;
};

// "HTTP/1.1 404 Not Found\r\n"
void append_status_line(std::string& out, int status);
// "Name: value\r\n". The caller guarantees no CR/LF in either (asserted).
void append_header(std::string& out, std::string_view name, std::string_view value);
void append_header(std::string& out, std::string_view name, std::uint64_t value);

// Status line and headers, up to and including the blank line. content_length nullopt
// means a chunked body follows ("Transfer-Encoding: chunked"). 1xx, 204 and 304 never
// get framing headers. For a HEAD request pass the length the GET body would have.
void append_response_head(std::string& out, const response_options& options,
                          std::optional<std::uint64_t> content_length);
// A whole Content-Length response.
void append_response(std::string& out, const response_options& options, std::string_view body);

// "GET /path HTTP/1.1\r\n" + headers + framing + blank line. content_length nullopt:
// no body and no framing header; chunked: Transfer-Encoding: chunked (content_length
// is then ignored).
void append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::span<const header_field> headers,
                         std::optional<std::uint64_t> content_length, bool chunked = false);

// Chunked framing. A chunk is its size line (chunk_header), n bytes of data, then
// chunk_terminator; streaming code sends the three with writev, the data from the buffer it
// arrived in, instead of copying it.
inline constexpr std::string_view chunk_terminator = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n"; // no trailers
// Room for the longest size line ("ffffffffffffffff\r\n").
using chunk_header_buffer = std::array<char, 18>;
// The size line of a chunk of `size` bytes, written into `buffer`.
std::string_view chunk_header(chunk_header_buffer& buffer, std::size_t size);
void append_chunk_header(std::string& out, std::size_t size);
void append_chunk(std::string& out, std::string_view data); // empty data appends nothing
void append_last_chunk(std::string& out);

} // namespace http
