#include "loadgen/latency_stats.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace loadgen {

std::uint32_t nearest_rank(const std::vector<std::uint32_t>& sorted, double p) {
    assert(!sorted.empty() && p > 0 && p <= 100);
    // rank = ceil(p/100 * n), 1-based; the epsilon keeps 90% of 10 at rank 9 when the
    // product comes out as 9.000000000000002.
    const double exact = p / 100.0 * static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(exact - 1e-9));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

latency_stats summarize_latencies(std::vector<std::uint32_t>& latencies_us) {
    std::erase(latencies_us, no_latency);
    latency_stats stats;
    if (latencies_us.empty()) {
        return stats;
    }
    std::sort(latencies_us.begin(), latencies_us.end());
    stats.count = latencies_us.size();
    stats.p50_us = nearest_rank(latencies_us, 50);
    stats.p90_us = nearest_rank(latencies_us, 90);
    stats.p99_us = nearest_rank(latencies_us, 99);
    stats.max_us = latencies_us.back();
    double sum = 0;
    for (const std::uint32_t value : latencies_us) {
        sum += value;
    }
    stats.mean_us = sum / static_cast<double>(latencies_us.size());
    return stats;
}

} // namespace loadgen
