#include "hashing/slot_ring.hpp"

#include <algorithm>
#include <numeric>

#include "hashing/hash_range.hpp"

#include <string>
#include <xxhash.h>

namespace hashing {

std::uint32_t spec_request_slot(std::uint64_t request_id, std::uint32_t slots) noexcept {
    const std::uint64_t m = slots;
    const std::uint64_t i = request_id % m;
    // i < 2^24 (validate), so i * i fits in 64 bits.
    return static_cast<std::uint32_t>((i * i + 2 * i + 17) % m);
}

std::uint32_t spec_vnode_slot(std::uint64_t server_id, std::uint32_t vnode,
                              std::uint32_t slots) noexcept {
    const std::uint64_t m = slots;
    const std::uint64_t i = server_id % m;
    const std::uint64_t j = vnode % m;
    return static_cast<std::uint32_t>((i * i + j * j + 2 * j + 25) % m);
}

slot_ring::slot_ring(std::vector<std::uint32_t> owner)
    : owner_(std::move(owner)), next_occupied_(owner_.size(), empty_slot) {
    const std::size_t m = owner_.size();
    std::uint32_t next = empty_slot;
    // Two passes right to left: the first finds the occupied slot the wrap-around reaches, the
    // second fills every entry.
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t s = m; s-- > 0;) {
            if (owner_[s] != empty_slot) {
                next = static_cast<std::uint32_t>(s);
            }
            next_occupied_[s] = next;
        }
    }
    for (std::uint32_t o : owner_) {
        occupied_count_ += o != empty_slot;
    }
}

std::expected<slot_ring, error> slot_ring::build_spec(std::span<const replica_info> replicas,
                                                      std::uint32_t slots, std::uint32_t vnodes,
                                                      probe_mode probe) {
    std::uint64_t weights = 0;
    for (const replica_info& replica : replicas) {
        weights += replica.weight;
    }
    if (weights * vnodes > slots) {
        return std::unexpected(error{std::string("spec ring: ")
                                         .append(std::to_string(weights))
                                         .append(" units of weight x ")
                                         .append(std::to_string(vnodes))
                                         .append(" virtual servers do not fit in ")
                                         .append(std::to_string(slots))
                                         .append(" slots")});
    }
    std::vector<std::uint32_t> owner(slots, empty_slot);
    // Placed in id order, not membership order: a collision goes to the lower id, so every
    // balancer given the same members builds the same ring however it learnt them.
    std::vector<std::uint32_t> by_id(replicas.size());
    std::iota(by_id.begin(), by_id.end(), 0U);
    std::sort(by_id.begin(), by_id.end(),
              [&](std::uint32_t a, std::uint32_t b) { return replicas[a].id < replicas[b].id; });
    for (const std::uint32_t r : by_id) {
        for (std::uint32_t j = 0; j < vnodes * replicas[r].weight; ++j) {
            const std::uint32_t home = spec_vnode_slot(replicas[r].id, j, slots);
            std::uint32_t placed = empty_slot;
            // Quadratic probing modulo M does not reach every slot, so give up after M tries
            // rather than loop; linear probing always finds the free slot the size check
            // guarantees.
            for (std::uint64_t t = 0; t < slots; ++t) {
                const std::uint64_t step = probe == probe_mode::linear ? t : t * t;
                const auto s = static_cast<std::uint32_t>((home + step) % slots);
                if (owner[s] == empty_slot) {
                    placed = s;
                    break;
                }
            }
            if (placed == empty_slot) {
                return std::unexpected(
                    error{std::string("spec ring: quadratic probing found no free slot for server ")
                              .append(std::to_string(replicas[r].id))
                              .append(" (use more slots or linear probing)")});
            }
            owner[placed] = static_cast<std::uint32_t>(r);
        }
    }
    return slot_ring(std::move(owner));
}

std::expected<slot_ring, error> slot_ring::build_hashed(std::span<const replica_info> replicas,
                                                        std::uint32_t slots, std::uint32_t vnodes) {
    std::vector<std::uint32_t> owner(slots, empty_slot);
    std::vector<std::uint64_t> winner_hash(slots, 0);
    for (std::size_t r = 0; r < replicas.size(); ++r) {
        const std::string& name = replicas[r].name;
        for (std::uint32_t j = 0; j < vnodes * replicas[r].weight; ++j) {
            const std::uint64_t h = XXH3_64bits_withSeed(name.data(), name.size(), j);
            const std::uint32_t s = reduce_range(h, slots);
            // Names are unique, so equal 64-bit hashes are a true collision; break the tie by
            // name so the winner does not depend on membership order.
            if (owner[s] == empty_slot || h < winner_hash[s] ||
                (h == winner_hash[s] && name < replicas[owner[s]].name)) {
                owner[s] = static_cast<std::uint32_t>(r);
                winner_hash[s] = h;
            }
        }
    }
    return slot_ring(std::move(owner));
}

} // namespace hashing
