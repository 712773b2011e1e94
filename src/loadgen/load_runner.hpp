#pragma once
// load_runner: the I/O half of lb-load. run_load() resolves the URL, then drives
// --connections keep-alive HTTP/1.1 connections, spread over --threads reactor threads
// (the calling thread is the first; it must not own a reactor yet), each connection a
// coroutine that pulls request numbers from one shared atomic counter until R are taken;
// open loop (--rate), each request waits for its due time (pacer) and its latency counts
// from then. A request that gets no response (connect failure, reset, timeout) is counted
// as an error and its connection is reopened for the next request. Allocates up front: a
// latency histogram per thread and one frame per connection; per request, nothing beyond
// the connection's reused request and body strings.

#include <expected>
#include <string>

#include "loadgen/load_options.hpp"
#include "loadgen/load_report.hpp"

namespace loadgen {

// Runs the whole load and returns the merged report, with latencies summarized. Returns
// an error message when the URL's host does not resolve; throws runtime::startup_error
// when a reactor cannot be created (io_uring blocked).
std::expected<load_report, std::string> run_load(const load_options& options);

} // namespace loadgen
