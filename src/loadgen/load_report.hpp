#pragma once
// load_report: what one lb-load run observed (responses per server id and per status
// code, errors by kind, latency percentiles, throughput, timeline) and its two
// renderings, one JSON object for scripts and a table for people. Server ids come from
// the replica's body {"message": "Hello from Server: <ID>", ...}. No I/O; a report is
// filled by one runner thread and merged into the final one; the per-server and
// per-status maps allocate once per distinct key, not per request.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "loadgen/latency_stats.hpp"
#include "loadgen/load_options.hpp"
#include "loadgen/timeline.hpp"

namespace loadgen {

// The <ID> of "Hello from Server: <ID>" in a response body: the characters up to the
// closing quote of the JSON string (or the end of the body). nullopt when the body does
// not hold the phrase or the id is empty. The view points into `body`.
std::optional<std::string_view> extract_server_id(std::string_view body);

// Why a request got no response.
struct error_counts {
    std::uint64_t connect = 0; // the connection could not be opened
    std::uint64_t reset = 0;   // the connection broke (reset, closed early, send failed)
    std::uint64_t timeout = 0; // connect, send or a receive exceeded --timeout-ms
    std::uint64_t other = 0;   // a malformed response

    std::uint64_t total() const noexcept { return connect + reset + timeout + other; }
};

struct load_report {
    explicit load_report(std::chrono::nanoseconds bucket_width) : over_time(bucket_width) {}

    std::uint64_t requests = 0;       // attempted
    std::uint64_t responses = 0;      // got a complete response, whatever its status
    std::uint64_t ok = 0;             // 2xx responses
    std::uint64_t unknown_server = 0; // 2xx responses without "Hello from Server: <ID>"
    error_counts errors;
    std::map<std::string, std::uint64_t, std::less<>> per_server;
    std::map<int, std::uint64_t> per_status;
    latency_stats latency;
    latency_histogram latencies; // this thread's, merged into the final report's
    std::uint64_t body_bytes_received = 0;
    std::uint64_t body_bytes_sent = 0;
    std::chrono::nanoseconds elapsed{0};
    timeline over_time; // requests finished per bucket

    // Counts one complete response (its id looked up without allocating once known).
    void count_response(int status, std::string_view body);
    // Adds another thread's counters and latencies (summarized once, at the end).
    void merge(const load_report& other);
    double requests_per_second() const noexcept;
};

// {"url": ..., "requests": R, ..., "servers": {"Server1": n, ...}, "status": {"200": n},
//  "errors": {...}, "latency_ms": {...}, "timeline": {"bucket_ms": 100, "ok": [...],
//  "errors": [...]}} on one line, then a newline.
std::string render_json(const load_report& report, const load_options& options);
// The same figures as an aligned, readable table.
std::string render_table(const load_report& report, const load_options& options);

} // namespace loadgen
