#pragma once
// The slotted ring behind `spec` and `ring`: M slots, K virtual servers per replica, a key
// goes to the first occupied slot clockwise from its own slot. Built once on the control
// thread (allocates three arrays of M entries), then immutable and read by every worker
// without locks; lookups are O(1) through a precomputed "next occupied slot" table.

#include "hashing/error.hpp"
#include "hashing/membership.hpp"
#include "hashing/ring_params.hpp"

#include <cstdint>
#include <expected>
#include <span>
#include <vector>

namespace hashing {

// The assignment's formulas, exactly, for any M (computed on residues so nothing overflows:
// (i mod M)^2 + 2 (i mod M) + 17 is congruent to i^2 + 2i + 17 modulo M).
std::uint32_t spec_request_slot(std::uint64_t request_id, std::uint32_t slots) noexcept;
std::uint32_t spec_vnode_slot(std::uint64_t server_id, std::uint32_t vnode,
                              std::uint32_t slots) noexcept;

class slot_ring {
public:
    static constexpr std::uint32_t empty_slot = UINT32_MAX;

    // `spec`: server `replicas[r].id` puts virtual server j at Phi(id, j); servers are inserted
    // in membership order, j = 0..K w - 1 (w its weight), and a taken slot probes on (linear:
    // +1, +2, ...; quadratic: +1, +4, +9, ...). Fails when a virtual server finds no free slot.
    static std::expected<slot_ring, error> build_spec(std::span<const replica_info> replicas,
                                                      std::uint32_t slots, std::uint32_t vnodes,
                                                      probe_mode probe);

    // `ring`: virtual server j (0..K w - 1) of a replica sits at reduce_range(XXH3(name, seed
    // j), M).
    // TRICKY: two virtual servers on one slot do not probe: the smaller 64-bit hash wins and
    // the other is shadowed. Probing would make a replica's position depend on who else was
    // there, so removing a replica would also move keys of the neighbour it had pushed along;
    // shadowing keeps "removing a replica moves only its keys" exact.
    static std::expected<slot_ring, error> build_hashed(std::span<const replica_info> replicas,
                                                        std::uint32_t slots, std::uint32_t vnodes);

    std::uint32_t slot_count() const noexcept { return static_cast<std::uint32_t>(owner_.size()); }

    // Owner of the first occupied slot at or after `slot`, clockwise. Precondition: at least
    // one replica and slot < slot_count().
    std::uint32_t owner_from(std::uint32_t slot) const noexcept {
        return owner_[next_occupied_[slot]];
    }

    // The same walk, skipping the slots of `excluded` and, when `eligible` says no, of replicas
    // that are over their load bound. Returns empty_slot when no other replica owns a slot.
    template <typename Eligible>
    std::uint32_t owner_from_if(std::uint32_t slot, Eligible&& eligible) const noexcept {
        std::uint32_t s = next_occupied_[slot];
        for (std::size_t seen = 0; seen < occupied_count_; ++seen) {
            std::uint32_t owner = owner_[s];
            if (eligible(owner)) {
                return owner;
            }
            s = next_occupied_[s + 1 == slot_count() ? 0 : s + 1];
        }
        return empty_slot;
    }

    // slot -> replica index, or empty_slot: the slot map for the admin `/ring` endpoint.
    std::span<const std::uint32_t> owners() const noexcept { return owner_; }

private:
    explicit slot_ring(std::vector<std::uint32_t> owner);

    std::vector<std::uint32_t> owner_;
    // For every slot, the first occupied slot at or after it (wrapping), so a lookup is two
    // loads instead of a scan over empty slots.
    std::vector<std::uint32_t> next_occupied_;
    std::size_t occupied_count_ = 0;
};

} // namespace hashing
