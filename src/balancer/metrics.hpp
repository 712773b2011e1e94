#pragma once
// Per-worker request metrics: counts by replica and status class, and an upstream latency
// histogram. A worker updates its own copy with plain arithmetic (no atomics, no lock);
// the admin endpoint asks each worker for a copy by message and merges them. Rendering
// to Prometheus text lives here too.

#include <array>
#include <cstdint>
#include <map>
#include <string>

namespace balancer {

inline constexpr std::array<double, 12> latency_bounds_seconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

struct replica_counters {
    std::array<std::uint64_t, 6> by_class{}; // index 1..5: 1xx..5xx; 0: no response
    std::uint64_t in_flight = 0;
    std::uint64_t retried = 0;
    std::uint64_t queued = 0;            // waiting for a slot now
    std::uint64_t queued_total = 0;      // ever had to wait
    std::uint64_t rejected = 0;          // 503: queue full or queue_timeout passed
    std::uint64_t closed_by_replica = 0; // pooled connections the replica closed
    std::uint64_t expired_idle = 0;      // pooled connections closed by --upstream-idle-timeout-ms
    std::uint64_t tunnels = 0;           // upgraded connections (WebSocket) open now
    std::uint64_t tunnels_total = 0;     // ... ever opened
};

// The client side of one worker (net::server_stats, summed over workers).
struct connection_counters {
    std::uint64_t open = 0;
    std::uint64_t idle = 0;
    std::uint64_t accepted = 0;
    std::uint64_t paused = 0;   // times accepting paused at --max-connections
    std::uint64_t at_limit = 0; // workers at their limit now
    std::uint64_t header_timeouts = 0;
    std::uint64_t body_timeouts = 0;
    std::uint64_t idle_closed = 0;
    std::uint64_t rejected = 0; // requests refused by the parser
    std::uint64_t buffer_waits = 0;
    std::uint64_t lingering = 0; // answered, reading what the client still sends, closing
    std::uint64_t max = 0;       // the limit, summed over workers (0: none)
};

struct worker_metrics {
    std::map<std::string, replica_counters> replicas;
    connection_counters connections;
    std::array<std::uint64_t, latency_bounds_seconds.size() + 1> latency_buckets{};
    double latency_sum_seconds = 0;
    std::uint64_t latency_count = 0;
    std::uint64_t no_replica = 0; // 503s

    void observe_latency(double seconds);
    void merge(const worker_metrics& other);
};

struct control_metrics {
    std::size_t replicas_managed = 0;
    std::size_t replicas_up = 0;
    std::uint64_t respawns = 0;
    std::uint64_t ring_changes = 0;
};

std::string render_prometheus(const worker_metrics& requests, const control_metrics& control);

} // namespace balancer
