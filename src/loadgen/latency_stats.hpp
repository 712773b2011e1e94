#pragma once
// latency_stats: the latency percentiles of a finished run, computed once at the end from
// the per-request latencies (microseconds) that the runner stored in a vector sized up
// front, so the request path never allocates or sorts. No I/O; any thread.

#include <cstdint>
#include <vector>

namespace loadgen {

// A slot of the latency vector whose request got no response (never counted).
inline constexpr std::uint32_t no_latency = UINT32_MAX;

struct latency_stats {
    std::uint64_t count = 0; // requests with a latency
    std::uint32_t p50_us = 0;
    std::uint32_t p90_us = 0;
    std::uint32_t p99_us = 0;
    std::uint32_t max_us = 0;
    double mean_us = 0;
};

// The nearest-rank percentile (the smallest value with at least p% of the values at or
// below it) of an ascending-sorted, non-empty vector; p in (0, 100].
std::uint32_t nearest_rank(const std::vector<std::uint32_t>& sorted, double p);

// Drops the no_latency slots, sorts what remains in place and summarizes it. All zeros
// when no request got a response.
latency_stats summarize_latencies(std::vector<std::uint32_t>& latencies_us);

} // namespace loadgen
