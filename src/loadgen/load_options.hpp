#pragma once
// load_options: what one lb-load run does (target URL, request count, connections,
// request ids, output shape), parsed and validated once from the command line. Pure
// parsing, no I/O and no name resolution (the runner resolves the host); start-up only,
// any thread, allocates freely.

#include <chrono>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace loadgen {

enum class request_id_mode : std::uint8_t {
    random, // a random 6-digit X-Request-ID per request (lbd's default hash key)
    none,   // no X-Request-ID: lbd then draws its own random key
};

// An "http://HOST[:PORT]/path?query" URL split into what a request needs.
struct http_url {
    std::string authority; // "HOST:PORT" (port 80 filled in when absent)
    std::string host;      // the Host header: authority as written in the URL
    std::string target;    // "/path?query", "/" when the URL has no path
};

// Parses a plain-HTTP URL (https is not supported: lbd speaks HTTP/1.1 in the clear).
// Returns a message saying what is wrong.
std::expected<http_url, std::string> parse_http_url(std::string_view text);

struct load_options {
    http_url url;
    std::uint64_t requests = 10'000;
    // Open loop (--rate): requests go out on a fixed timetable, `rate` a second for
    // `duration` (requests = rate x duration), each latency counted from its due time.
    // 0: closed loop (each connection sends its next request when the last is answered).
    double rate = 0;
    std::chrono::milliseconds duration{0};
    // POST with a body of this many bytes instead of GET (--body-bytes).
    std::uint64_t body_bytes = 0;
    std::uint32_t connections = 64;
    std::uint32_t threads = 1;
    request_id_mode request_ids = request_id_mode::random;
    bool json = false;
    std::chrono::milliseconds timeline_bucket{100};
    std::chrono::milliseconds timeout{5'000};
    bool help = false; // --help given: print usage_text() and nothing else
};

// The usage text for --help and for flag errors.
std::string_view usage_text();

// Parses the arguments after the program name: "--name value", "--name=value", and
// "--json" / "--help" without a value. --url is required unless --help is given.
// Returns a message naming the offending flag.
std::expected<load_options, std::string> parse_load_options(std::span<const std::string_view> args);

} // namespace loadgen
