#pragma once
// The input of a snapshot: the ordered list of replicas the control thread manages. A replica
// is known by its name (the hostname, which every hashed algorithm places on the ring, so a
// replacement that keeps the name takes back the same positions), its integer id (which the
// `spec` ring places by formula) and its weight (its share of the keys is its weight over
// the sum of weights). Routing depends on these three only, never on addresses or on the
// order the replicas were learnt in, but for `spec`, which inserts in order as the
// assignment does. Plain values, owned by whoever holds them.

#include <cstdint>
#include <string>
#include <vector>

namespace hashing {

struct replica_info {
    std::string name;
    std::uint64_t id = 0;
    std::uint32_t weight = 1; // 1 to max_weight

    friend bool operator==(const replica_info&, const replica_info&) = default;
};

// Order matters only to `spec` (it inserts servers in this order, as the assignment does);
// every other algorithm gives the same routing for the same set of replicas.
using membership = std::vector<replica_info>;

inline constexpr std::uint32_t max_weight = 1000;

} // namespace hashing
