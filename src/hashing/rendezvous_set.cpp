#include "hashing/rendezvous_set.hpp"

#include <xxhash.h>

namespace hashing {

rendezvous_set::rendezvous_set(std::span<const replica_info> replicas) {
    seeds_.reserve(replicas.size());
    for (const replica_info& r : replicas) {
        seeds_.push_back(XXH3_64bits_withSeed(r.name.data(), r.name.size(), rendezvous_seed));
    }
}

} // namespace hashing
