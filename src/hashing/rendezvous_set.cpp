#include "hashing/rendezvous_set.hpp"

#include <cmath>
#include <xxhash.h>

namespace hashing {

rendezvous_set::rendezvous_set(std::span<const replica_info> replicas) {
    seeds_.reserve(replicas.size());
    weights_.reserve(replicas.size());
    for (const replica_info& r : replicas) {
        seeds_.push_back(XXH3_64bits_withSeed(r.name.data(), r.name.size(), rendezvous_seed));
        weights_.push_back(r.weight);
        weighted_ = weighted_ || r.weight != replicas.front().weight;
    }
}

double rendezvous_set::weighted_score(std::uint64_t mixed, std::uint32_t weight) noexcept {
    const double u = (static_cast<double>(mixed >> 11) + 0.5) * 0x1.0p-53;
    return static_cast<double>(weight) / -std::log(u);
}

} // namespace hashing
