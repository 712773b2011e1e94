#include "balancer/metrics.hpp"

#include <cstdio>

namespace balancer {

void worker_metrics::observe_latency(double seconds) {
    std::size_t bucket = 0;
    while (bucket < latency_bounds_seconds.size() && seconds > latency_bounds_seconds[bucket]) {
        ++bucket;
    }
    ++latency_buckets[bucket];
    latency_sum_seconds += seconds;
    ++latency_count;
}

void worker_metrics::merge(const worker_metrics& other) {
    for (const auto& [name, counters] : other.replicas) {
        replica_counters& mine = replicas[name];
        for (std::size_t i = 0; i < mine.by_class.size(); ++i) {
            mine.by_class[i] += counters.by_class[i];
        }
        mine.in_flight += counters.in_flight;
        mine.retried += counters.retried;
    }
    for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
        latency_buckets[i] += other.latency_buckets[i];
    }
    latency_sum_seconds += other.latency_sum_seconds;
    latency_count += other.latency_count;
    no_replica += other.no_replica;
}

std::string render_prometheus(const worker_metrics& requests, const control_metrics& control) {
    std::string out;
    char line[1024];
    out += "# HELP lbd_requests_total Proxied requests by replica and status class.\n";
    out += "# TYPE lbd_requests_total counter\n";
    static constexpr const char* classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (const auto& [name, counters] : requests.replicas) {
        for (std::size_t i = 0; i < counters.by_class.size(); ++i) {
            std::snprintf(line, sizeof line,
                          "lbd_requests_total{replica=\"%s\",class=\"%s\"} %llu\n", name.c_str(),
                          classes[i], static_cast<unsigned long long>(counters.by_class[i]));
            out += line;
        }
    }
    out += "# HELP lbd_retries_total Requests retried on another replica.\n";
    out += "# TYPE lbd_retries_total counter\n";
    for (const auto& [name, counters] : requests.replicas) {
        std::snprintf(line, sizeof line, "lbd_retries_total{replica=\"%s\"} %llu\n", name.c_str(),
                      static_cast<unsigned long long>(counters.retried));
        out += line;
    }
    out += "# HELP lbd_no_replica_total Requests answered 503 for want of a replica.\n";
    out += "# TYPE lbd_no_replica_total counter\n";
    std::snprintf(line, sizeof line, "lbd_no_replica_total %llu\n",
                  static_cast<unsigned long long>(requests.no_replica));
    out += line;
    out +=
        "# HELP lbd_upstream_latency_seconds Time from sending a request to its response head.\n";
    out += "# TYPE lbd_upstream_latency_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < latency_bounds_seconds.size(); ++i) {
        cumulative += requests.latency_buckets[i];
        std::snprintf(line, sizeof line, "lbd_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n",
                      latency_bounds_seconds[i], static_cast<unsigned long long>(cumulative));
        out += line;
    }
    cumulative += requests.latency_buckets.back();
    std::snprintf(line, sizeof line,
                  "lbd_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "lbd_upstream_latency_seconds_sum %.6f\n"
                  "lbd_upstream_latency_seconds_count %llu\n",
                  static_cast<unsigned long long>(cumulative), requests.latency_sum_seconds,
                  static_cast<unsigned long long>(requests.latency_count));
    out += line;
    std::snprintf(line, sizeof line,
                  "# HELP lbd_replicas Replicas managed by lbd.\n# TYPE lbd_replicas gauge\n"
                  "lbd_replicas %zu\n"
                  "# HELP lbd_replicas_up Replicas in the ring (passing health checks).\n"
                  "# TYPE lbd_replicas_up gauge\nlbd_replicas_up %zu\n"
                  "# HELP lbd_respawns_total Replicas replaced after dying.\n"
                  "# TYPE lbd_respawns_total counter\nlbd_respawns_total %llu\n"
                  "# HELP lbd_ring_changes_total Routing tables published.\n"
                  "# TYPE lbd_ring_changes_total counter\nlbd_ring_changes_total %llu\n",
                  control.replicas_managed, control.replicas_up,
                  static_cast<unsigned long long>(control.respawns),
                  static_cast<unsigned long long>(control.ring_changes));
    out += line;
    return out;
}

} // namespace balancer
