#pragma once
// latency_stats: the latency percentiles of a finished run, read once at the end from the
// merged latency_histogram (within its 0.8% bucket error), so the request path never
// allocates or sorts. No I/O; any thread.

#include <cstdint>

#include "loadgen/latency_histogram.hpp"

namespace loadgen {

struct latency_stats {
    std::uint64_t count = 0; // requests with a latency
    std::uint64_t p50_us = 0;
    std::uint64_t p90_us = 0;
    std::uint64_t p99_us = 0;
    std::uint64_t p999_us = 0;
    std::uint64_t p9999_us = 0;
    std::uint64_t max_us = 0;
    double mean_us = 0;
};

// All zeros when no request got a response.
latency_stats summarize(const latency_histogram& latencies);

} // namespace loadgen
