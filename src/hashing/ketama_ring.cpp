#include "hashing/ketama_ring.hpp"

#include <algorithm>
#include <xxhash.h>

namespace hashing {

ketama_ring::ketama_ring(std::span<const replica_info> replicas, std::uint32_t points_per_replica) {
    struct point {
        std::uint64_t position;
        std::uint32_t owner;
    };
    std::vector<point> points;
    std::size_t total = 0;
    for (const replica_info& replica : replicas) {
        total += std::size_t{points_per_replica} * replica.weight;
    }
    points.reserve(total);
    for (std::size_t r = 0; r < replicas.size(); ++r) {
        const std::string& name = replicas[r].name;
        for (std::uint32_t j = 0; j < points_per_replica * replicas[r].weight; ++j) {
            points.push_back(
                {XXH3_64bits_withSeed(name.data(), name.size(), j), static_cast<std::uint32_t>(r)});
        }
    }
    std::sort(points.begin(), points.end(), [&](const point& a, const point& b) {
        if (a.position != b.position) {
            return a.position < b.position;
        }
        return replicas[a.owner].name < replicas[b.owner].name;
    });
    positions_.reserve(points.size());
    owners_.reserve(points.size());
    for (const point& p : points) {
        positions_.push_back(p.position);
        owners_.push_back(p.owner);
    }
}

} // namespace hashing
