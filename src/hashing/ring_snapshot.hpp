#pragma once
// The immutable routing state one membership produces: the replica table plus the lookup
// structure of the chosen algorithm. The control thread builds it (this allocates: up to a few
// MB for large tables) and hands a shared_ptr<const ring_snapshot> to every worker, which keeps
// its own copy (docs/design.md, "Threading model"); after that, any number of threads call the
// const member functions concurrently. Lookups never allocate, never lock and never throw, and give
// the same answer in every process for the same membership and parameters.

#include "hashing/error.hpp"
#include "hashing/ketama_ring.hpp"
#include "hashing/key_hash.hpp"
#include "hashing/maglev_table.hpp"
#include "hashing/membership.hpp"
#include "hashing/rendezvous_set.hpp"
#include "hashing/ring_params.hpp"
#include "hashing/slot_ring.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <variant>

namespace hashing {

// Per-replica in-flight request counts, indexed like ring_snapshot::replicas(), for `bounded`.
// `total` is their sum: the caller keeps it up to date as it counts, so a lookup stays
// O(log n) instead of summing N counters. Other algorithms ignore loads, and so does
// `bounded` when the span's size is not the snapshot's (an assert in debug builds).
struct replica_loads {
    std::span<const std::uint32_t> in_flight;
    std::uint64_t total = 0;

    // Sums the counts: O(N), for tests and tools.
    static replica_loads of(std::span<const std::uint32_t> in_flight) noexcept;
};

// One entry of the slot map the admin `/ring` endpoint shows.
struct slot_entry {
    std::uint64_t position; // slot or table index; a 64-bit point for ketama and bounded
    std::uint32_t replica;  // index into replicas()
};

class ring_snapshot {
public:
    static constexpr std::size_t no_replica = std::numeric_limits<std::size_t>::max();

    // Validates `params` and the membership (names non-empty and unique, ids unique), then
    // builds. An empty membership is valid: every lookup answers no_replica (the balancer
    // answers 503). `generation` is an opaque number the control thread uses to match worker
    // acknowledgements to snapshots. Control thread; allocates; fails with a message.
    static std::expected<std::shared_ptr<const ring_snapshot>, error>
    build(membership replicas, const ring_params& params, std::uint64_t generation = 0);

    // The replica index for a key, or no_replica when none may be picked. `routable`, when
    // given (one byte per replica, indexed like replicas()), says which replicas may be
    // picked: health at pick time. A replica that may not be picked keeps its entries and its
    // keys go to their next choice (the next distinct replica in the key's order), so no
    // other key moves. For `bounded`, replicas whose in-flight count is at or above their
    // capacity ceil(c (total + 1) w / W) are passed over too (Mirrokni, Thorup, Zadimoghaddam
    // 2018), so pass the worker's counts; with no counts it routes like `ketama`. O(1) for
    // spec, ring, maglev; O(log NP) for ketama; O(N) for rendezvous; a walk past the replicas
    // that may not be picked.
    std::size_t lookup(const request_key& key, replica_loads loads = {},
                       std::span<const std::uint8_t> routable = {}) const noexcept;

    // The key's choice once `excluded` is ruled out too: with excluded = lookup(key), the
    // next distinct replica in the key's order (clockwise on rings, next score for
    // rendezvous, next table entries for maglev), which is where the proxy retries.
    // no_replica when no other replica may be picked.
    std::size_t lookup_excluding(const request_key& key, std::size_t excluded,
                                 replica_loads loads = {},
                                 std::span<const std::uint8_t> routable = {}) const noexcept;

    std::span<const replica_info> replicas() const noexcept { return replicas_; }
    std::size_t size() const noexcept { return replicas_.size(); }
    bool empty() const noexcept { return replicas_.empty(); }
    const ring_params& params() const noexcept { return params_; }
    algorithm_kind algorithm() const noexcept { return params_.algorithm; }
    std::uint64_t generation() const noexcept { return generation_; }

    // Index of the replica with this name, or no_replica. O(N).
    std::size_t find(std::string_view name) const noexcept;

    // The slot map, read in place (no copy): occupied slots for spec and ring, points for
    // ketama and bounded, table entries for maglev, nothing for rendezvous (it has no map).
    // position_space() is the range positions live in (M, or 0 meaning 2^64).
    std::size_t slot_count() const noexcept;
    slot_entry slot_at(std::size_t index) const noexcept;
    std::uint64_t position_space() const noexcept;

private:
    using table_type =
        std::variant<std::monostate, slot_ring, ketama_ring, maglev_table, rendezvous_set>;

    ring_snapshot(membership replicas, const ring_params& params, std::uint64_t generation,
                  table_type table);

    template <typename Eligible>
    std::size_t first_eligible(const request_key& key, Eligible&& eligible) const noexcept;
    // The key's own replica, ignoring health and loads.
    std::size_t fast_owner(const request_key& key) const noexcept;
    // The sum of the weights of the replicas that may be picked.
    std::uint64_t routable_weight(std::span<const std::uint8_t> routable) const noexcept;

    membership replicas_;
    ring_params params_;
    std::uint64_t generation_;
    table_type table_;
    std::uint64_t total_weight_ = 0;
    // Occupied slots of a slotted ring, in slot order, so slot_at() is O(1).
    std::vector<std::uint32_t> occupied_slots_;
};

} // namespace hashing
