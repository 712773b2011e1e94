#pragma once
// The Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4): a prime-sized table (65537 by default) where each replica
// takes entries in turn from its own permutation, so every replica owns its weight's share of
// the M entries (within one) and a lookup is one multiply and one load. Weighted as Envoy's
// Maglev is: in round t, a replica of weight w takes an entry while it holds fewer than
// t w / max_weight. Built on the control thread (allocates M entries and three words per
// replica), then immutable.

#include "hashing/membership.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace hashing {

class maglev_table {
public:
    // Preconditions: table_size is prime and >= replicas.size() (ring_snapshot checks both).
    maglev_table(std::span<const replica_info> replicas, std::uint32_t table_size);

    std::uint32_t slot_of(std::uint64_t hash) const noexcept;

    std::uint32_t owner_at(std::uint32_t slot) const noexcept { return entries_[slot]; }

    // Maglev has no ring order to fall back on; the entries that follow a key's own are those
    // of the other replicas' permutations, well mixed, so walking forward gives a balanced and
    // deterministic next choice. Returns UINT32_MAX after a full turn without an eligible one.
    template <typename Eligible>
    std::uint32_t owner_from_if(std::uint64_t hash, Eligible&& eligible) const noexcept {
        std::uint32_t s = slot_of(hash);
        const auto m = static_cast<std::uint32_t>(entries_.size());
        for (std::uint32_t seen = 0; seen < m; ++seen) {
            if (eligible(entries_[s])) {
                return entries_[s];
            }
            s = s + 1 == m ? 0 : s + 1;
        }
        return UINT32_MAX;
    }

    // entry -> replica index: the slot map for `/ring`.
    std::span<const std::uint32_t> entries() const noexcept { return entries_; }

private:
    std::vector<std::uint32_t> entries_;
};

} // namespace hashing
