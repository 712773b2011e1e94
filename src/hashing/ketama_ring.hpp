#pragma once
// The continuous ring of `ketama` and `bounded`: every replica puts P points per unit of weight
// on the 64-bit circle (P = 160 by default, as libketama does), a key goes to the first point
// at or after
// its hash, found by binary search in O(log(N P)). Built on the control thread (allocates two
// arrays of N P entries), then immutable and shared read-only by every worker.

#include "hashing/membership.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace hashing {

class ketama_ring {
public:
    static constexpr std::uint32_t no_point = UINT32_MAX;

    // Point j of a replica is XXH3(name, seed j). Ties (two equal 64-bit positions) are broken
    // by name, so the ring depends on the set of replicas, not on their order.
    ketama_ring(std::span<const replica_info> replicas, std::uint32_t points_per_replica);

    // Index of the first point at or after `hash`, wrapping to 0. Precondition: not empty.
    std::uint32_t first_point(std::uint64_t hash) const noexcept {
        // Branch-free lower bound: the loop runs log2(n) times whatever the data, and the
        // compiler turns the ternary into a conditional move, so no mispredictions.
        const std::uint64_t* base = positions_.data();
        std::size_t n = positions_.size();
        while (n > 1) {
            const std::size_t half = n / 2;
            base = base[half - 1] < hash ? base + half : base;
            n -= half;
        }
        std::size_t index = static_cast<std::size_t>(base - positions_.data()) + (*base < hash);
        return index == positions_.size() ? 0 : static_cast<std::uint32_t>(index);
    }

    std::uint32_t owner_of(std::uint32_t point) const noexcept { return owners_[point]; }

    // Walks clockwise from the key's point and returns the first owner `eligible` accepts, or
    // no_point after a full turn.
    template <typename Eligible>
    std::uint32_t owner_from_if(std::uint64_t hash, Eligible&& eligible) const noexcept {
        std::uint32_t p = first_point(hash);
        for (std::size_t seen = 0; seen < owners_.size(); ++seen) {
            if (eligible(owners_[p])) {
                return owners_[p];
            }
            p = p + 1 == owners_.size() ? 0 : p + 1;
        }
        return no_point;
    }

    // Sorted positions and their owners, index for index: the slot map for `/ring`.
    std::span<const std::uint64_t> positions() const noexcept { return positions_; }
    std::span<const std::uint32_t> owners() const noexcept { return owners_; }

private:
    std::vector<std::uint64_t> positions_;
    std::vector<std::uint32_t> owners_;
};

} // namespace hashing
