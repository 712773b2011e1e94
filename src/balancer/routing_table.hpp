#pragma once
// routing_table: what a worker routes by, built by the control thread and shared
// immutable with every worker (docs/design.md, "Threading
// model"). It pairs the hashing ring snapshot
// (replicas in rotation: healthy ones) with their addresses, and carries the full list of
// managed replicas for /rep, so a worker answers /rep and routes without asking control.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hashing/ring_snapshot.hpp"
#include "net/endpoint.hpp"

namespace balancer {

struct upstream_target {
    std::string name;
    net::endpoint address;
    std::string pool_key; // address text: pooled connections are per address
};

struct routing_table {
    std::shared_ptr<const hashing::ring_snapshot> ring; // never null
    std::vector<upstream_target> targets;               // aligned with ring->replicas()
    std::vector<std::string> managed;                   // every replica lbd manages, for /rep
    std::uint64_t generation = 0;
};

} // namespace balancer
