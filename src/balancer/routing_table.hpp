#pragma once
// routing_table: what a worker routes by, built by the control thread and shared immutable
// with every worker (docs/design.md, "Threading model"). It pairs the hashing ring snapshot of
// the configured members with their addresses and with which of them may be picked now
// (health at pick time, docs/design.md "Routing"), and carries the names /rep lists, so a
// worker answers /rep and routes without asking control. A health change or a new address
// makes a new table that shares the previous one's ring; only /add and /rm build a new ring.

#include <cstdint>
#include <memory>
#include <optional>
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
    // One byte per replica of the ring: 1 when it may be picked (up, with an address).
    std::vector<std::uint8_t> routable;
    bool any_routable = false;
    std::vector<std::string> listed; // /rep: the members that serve, in member order
    std::uint64_t generation = 0;
};

} // namespace balancer
