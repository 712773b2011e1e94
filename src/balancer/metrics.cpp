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
        mine.queued += counters.queued;
        mine.queued_total += counters.queued_total;
        mine.rejected += counters.rejected;
        mine.closed_by_replica += counters.closed_by_replica;
        mine.expired_idle += counters.expired_idle;
        mine.tunnels += counters.tunnels;
        mine.tunnels_total += counters.tunnels_total;
    }
    connection_counters& c = connections;
    const connection_counters& o = other.connections;
    c.open += o.open;
    c.idle += o.idle;
    c.accepted += o.accepted;
    c.paused += o.paused;
    c.at_limit += o.at_limit;
    c.header_timeouts += o.header_timeouts;
    c.body_timeouts += o.body_timeouts;
    c.idle_closed += o.idle_closed;
    c.rejected += o.rejected;
    c.buffer_waits += o.buffer_waits;
    c.lingering += o.lingering;
    c.max += o.max;
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
    const auto per_replica = [&](const char* metric, const char* type, const char* help,
                                 std::uint64_t replica_counters::*field) {
        std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric,
                      type);
        out += line;
        for (const auto& [name, counters] : requests.replicas) {
            std::snprintf(line, sizeof line, "%s{replica=\"%s\"} %llu\n", metric, name.c_str(),
                          static_cast<unsigned long long>(counters.*field));
            out += line;
        }
    };
    per_replica("lbd_retries_total", "counter", "Requests retried on another replica.",
                &replica_counters::retried);
    per_replica("lbd_in_flight", "gauge", "Requests in flight to the replica.",
                &replica_counters::in_flight);
    per_replica("lbd_queued", "gauge", "Requests waiting for a slot of the replica.",
                &replica_counters::queued);
    per_replica("lbd_queued_total", "counter", "Requests that had to wait for a slot.",
                &replica_counters::queued_total);
    per_replica("lbd_rejected_total", "counter",
                "Requests answered 503: the replica's queue was full or its wait too long.",
                &replica_counters::rejected);
    per_replica("lbd_upstream_closed_total", "counter",
                "Pooled connections the replica closed while idle.",
                &replica_counters::closed_by_replica);
    per_replica("lbd_upstream_expired_total", "counter",
                "Pooled connections closed after --upstream-idle-timeout-ms.",
                &replica_counters::expired_idle);
    per_replica("lbd_tunnels", "gauge", "Upgraded connections (WebSocket) open to the replica.",
                &replica_counters::tunnels);
    per_replica("lbd_tunnels_total", "counter", "Upgraded connections opened to the replica.",
                &replica_counters::tunnels_total);
    const connection_counters& c = requests.connections;
    struct single {
        const char* metric;
        const char* type;
        std::uint64_t value;
    };
    const single connection_figures[] = {
        {"lbd_connections_open", "gauge", c.open},
        {"lbd_connections_idle", "gauge", c.idle},
        {"lbd_connections_lingering", "gauge", c.lingering},
        {"lbd_connections_max", "gauge", c.max},
        {"lbd_workers_at_connection_limit", "gauge", c.at_limit},
        {"lbd_connections_accepted_total", "counter", c.accepted},
        {"lbd_accept_paused_total", "counter", c.paused},
        {"lbd_header_timeouts_total", "counter", c.header_timeouts},
        {"lbd_body_timeouts_total", "counter", c.body_timeouts},
        {"lbd_idle_closed_total", "counter", c.idle_closed},
        {"lbd_bad_requests_total", "counter", c.rejected},
        {"lbd_buffer_waits_total", "counter", c.buffer_waits},
    };
    for (const auto& [metric, type, value] : connection_figures) {
        std::snprintf(line, sizeof line, "# TYPE %s %s\n%s %llu\n", metric, type, metric,
                      static_cast<unsigned long long>(value));
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
