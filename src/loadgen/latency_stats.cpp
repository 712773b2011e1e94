#include "loadgen/latency_stats.hpp"

namespace loadgen {

latency_stats summarize(const latency_histogram& latencies) {
    latency_stats stats;
    stats.count = latencies.count();
    if (stats.count == 0) {
        return stats;
    }
    stats.p50_us = latencies.percentile(50);
    stats.p90_us = latencies.percentile(90);
    stats.p99_us = latencies.percentile(99);
    stats.p999_us = latencies.percentile(99.9);
    stats.p9999_us = latencies.percentile(99.99);
    stats.max_us = latencies.max();
    stats.mean_us = latencies.mean();
    return stats;
}

} // namespace loadgen
