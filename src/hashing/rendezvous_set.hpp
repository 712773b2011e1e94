#pragma once
// Rendezvous (highest random weight) hashing, Thaler and Ravishankar 1998: a key goes to the
// replica with the largest weight mix(key ^ seed(replica)). Perfectly consistent (removing a
// replica moves only its keys) but O(N) per lookup. Built on the control thread (one word per
// replica), then immutable.

#include "hashing/hash_range.hpp"
#include "hashing/membership.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace hashing {

class rendezvous_set {
public:
    explicit rendezvous_set(std::span<const replica_info> replicas);

    // The eligible replica with the highest weight, or UINT32_MAX when none is eligible.
    template <typename Eligible>
    std::uint32_t owner_if(std::uint64_t hash, Eligible&& eligible) const noexcept {
        std::uint32_t best = UINT32_MAX;
        std::uint64_t best_weight = 0;
        for (std::size_t r = 0; r < seeds_.size(); ++r) {
            const std::uint64_t w = mix64(hash ^ seeds_[r]);
            // Ties (equal 64-bit weights) go to the lower seed, an order-free rule.
            if (eligible(static_cast<std::uint32_t>(r)) &&
                (best == UINT32_MAX || w > best_weight ||
                 (w == best_weight && seeds_[r] < seeds_[best]))) {
                best = static_cast<std::uint32_t>(r);
                best_weight = w;
            }
        }
        return best;
    }

    // XXH3 of each replica's name, in membership order.
    std::span<const std::uint64_t> seeds() const noexcept { return seeds_; }

private:
    std::vector<std::uint64_t> seeds_;
};

} // namespace hashing
