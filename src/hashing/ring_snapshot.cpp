#include "hashing/ring_snapshot.hpp"

#include "hashing/hash_range.hpp"

#include <cassert>
#include <cmath>
#include <set>
#include <string>

namespace hashing {

replica_loads replica_loads::of(std::span<const std::uint32_t> in_flight) noexcept {
    std::uint64_t total = 0;
    for (std::uint32_t c : in_flight) {
        total += c;
    }
    return replica_loads{in_flight, total};
}

ring_snapshot::ring_snapshot(membership replicas, const ring_params& params,
                             std::uint64_t generation, table_type table)
    : replicas_(std::move(replicas)), params_(params), generation_(generation),
      table_(std::move(table)) {
    for (const replica_info& r : replicas_) {
        total_weight_ += r.weight;
    }
    if (const auto* slots = std::get_if<slot_ring>(&table_)) {
        const auto owners = slots->owners();
        for (std::size_t s = 0; s < owners.size(); ++s) {
            if (owners[s] != slot_ring::empty_slot) {
                occupied_slots_.push_back(static_cast<std::uint32_t>(s));
            }
        }
    }
}

std::expected<std::shared_ptr<const ring_snapshot>, error>
ring_snapshot::build(membership replicas, const ring_params& params, std::uint64_t generation) {
    if (auto valid = validate(params); !valid) {
        return std::unexpected(valid.error());
    }
    // Indices travel as uint32 in the tables; a million replicas is far past any real pool.
    if (replicas.size() > 1000000) {
        return std::unexpected(error{"too many replicas (at most 1000000)"});
    }
    std::set<std::string_view> names;
    std::set<std::uint64_t> ids;
    for (const replica_info& r : replicas) {
        if (r.name.empty()) {
            return std::unexpected(error{"a replica has an empty name"});
        }
        if (!names.insert(r.name).second) {
            return std::unexpected(error{"replica name '" + r.name + "' appears twice"});
        }
        if (!ids.insert(r.id).second) {
            return std::unexpected(error{
                std::string("replica id ").append(std::to_string(r.id)).append(" appears twice")});
        }
        if (r.weight < 1 || r.weight > max_weight) {
            return std::unexpected(error{"replica '" + r.name + "' has weight " +
                                         std::to_string(r.weight) + " (expected 1 to " +
                                         std::to_string(max_weight) + ")"});
        }
    }

    table_type table;
    if (!replicas.empty()) {
        switch (params.algorithm) {
        case algorithm_kind::spec: {
            auto ring = slot_ring::build_spec(replicas, params.slots, params.vnodes, params.probe);
            if (!ring) {
                return std::unexpected(ring.error());
            }
            table = std::move(*ring);
            break;
        }
        case algorithm_kind::ring: {
            auto ring = slot_ring::build_hashed(replicas, params.slots, params.vnodes);
            if (!ring) {
                return std::unexpected(ring.error());
            }
            table = std::move(*ring);
            break;
        }
        case algorithm_kind::ketama:
        case algorithm_kind::bounded:
            table = ketama_ring(replicas, params.points);
            break;
        case algorithm_kind::maglev:
            if (params.table_size < replicas.size()) {
                return std::unexpected(error{"maglev table size " +
                                             std::to_string(params.table_size) +
                                             " is smaller than the number of replicas"});
            }
            table = maglev_table(replicas, params.table_size);
            break;
        case algorithm_kind::rendezvous:
            table = rendezvous_set(replicas);
            break;
        }
    }
    return std::shared_ptr<const ring_snapshot>(
        new ring_snapshot(std::move(replicas), params, generation, std::move(table)));
}

template <typename Eligible>
std::size_t ring_snapshot::first_eligible(const request_key& key,
                                          Eligible&& eligible) const noexcept {
    std::uint32_t owner = UINT32_MAX;
    switch (params_.algorithm) {
    case algorithm_kind::spec: {
        const auto* ring = std::get_if<slot_ring>(&table_);
        owner = ring->owner_from_if(spec_request_slot(spec_request_id(key), ring->slot_count()),
                                    eligible);
        break;
    }
    case algorithm_kind::ring: {
        const auto* ring = std::get_if<slot_ring>(&table_);
        owner = ring->owner_from_if(reduce_range(key.hash, ring->slot_count()), eligible);
        break;
    }
    case algorithm_kind::ketama:
    case algorithm_kind::bounded:
        owner = std::get_if<ketama_ring>(&table_)->owner_from_if(key.hash, eligible);
        break;
    case algorithm_kind::maglev:
        owner = std::get_if<maglev_table>(&table_)->owner_from_if(key.hash, eligible);
        break;
    case algorithm_kind::rendezvous:
        owner = std::get_if<rendezvous_set>(&table_)->owner_if(key.hash, eligible);
        break;
    }
    return owner == UINT32_MAX ? no_replica : owner;
}

namespace {

bool routable_at(std::span<const std::uint8_t> routable, std::uint32_t r) noexcept {
    return routable.empty() || routable[r] != 0;
}

} // namespace

std::uint64_t
ring_snapshot::routable_weight(std::span<const std::uint8_t> routable) const noexcept {
    if (routable.empty()) {
        return total_weight_;
    }
    std::uint64_t weights = 0;
    for (std::size_t r = 0; r < replicas_.size(); ++r) {
        weights += routable[r] != 0 ? replicas_[r].weight : 0;
    }
    return weights;
}

std::size_t ring_snapshot::fast_owner(const request_key& key) const noexcept {
    switch (params_.algorithm) {
    case algorithm_kind::spec: {
        const auto* ring = std::get_if<slot_ring>(&table_);
        return ring->owner_from(spec_request_slot(spec_request_id(key), ring->slot_count()));
    }
    case algorithm_kind::ring: {
        const auto* ring = std::get_if<slot_ring>(&table_);
        return ring->owner_from(reduce_range(key.hash, ring->slot_count()));
    }
    case algorithm_kind::maglev: {
        const auto* table = std::get_if<maglev_table>(&table_);
        return table->owner_at(table->slot_of(key.hash));
    }
    case algorithm_kind::ketama:
    case algorithm_kind::bounded: {
        const auto* ring = std::get_if<ketama_ring>(&table_);
        return ring->owner_of(ring->first_point(key.hash));
    }
    case algorithm_kind::rendezvous:
        return std::get_if<rendezvous_set>(&table_)->owner_if(key.hash,
                                                              [](std::uint32_t) { return true; });
    }
    return no_replica;
}

std::size_t ring_snapshot::lookup(const request_key& key, replica_loads loads,
                                  std::span<const std::uint8_t> routable) const noexcept {
    return lookup_excluding(key, no_replica, loads, routable);
}

std::size_t ring_snapshot::lookup_excluding(const request_key& key, std::size_t excluded,
                                            replica_loads loads,
                                            std::span<const std::uint8_t> routable) const noexcept {
    if (replicas_.empty()) {
        return no_replica;
    }
    assert(routable.empty() || routable.size() == replicas_.size());
    if (!routable.empty() && routable.size() != replicas_.size()) {
        routable = {}; // another table's health: a bug, but routing on is better than failing
    }
    // Counts of another snapshot (a worker that has not resized them yet) are a bug, but
    // reading past them would be worse: route as ketama.
    assert(loads.in_flight.empty() || loads.in_flight.size() == replicas_.size());
    if (params_.algorithm == algorithm_kind::bounded &&
        loads.in_flight.size() == replicas_.size()) {
        // ceil(c (total + 1) w / W): a replica's capacity once this request is counted
        // (Mirrokni, Thorup, Zadimoghaddam 2018, section 2), in proportion to its weight among
        // the replicas that may be picked. Since the counts sum to total, some eligible
        // replica is always strictly below its capacity, so the walk terminates.
        const double per_weight =
            params_.load_factor * static_cast<double>(loads.total + 1) /
            static_cast<double>(std::max<std::uint64_t>(1, routable_weight(routable)));
        const std::size_t chosen = first_eligible(key, [&](std::uint32_t r) {
            return r != excluded && routable_at(routable, r) &&
                   loads.in_flight[r] <
                       static_cast<std::uint64_t>(std::ceil(per_weight * replicas_[r].weight));
        });
        // Only a caller whose total disagrees with its counts can make every replica look
        // full; route as ketama rather than fail.
        if (chosen != no_replica) {
            return chosen;
        }
    }
    // The common case: the key's own replica may be picked.
    if (excluded == no_replica) {
        const std::size_t owner = fast_owner(key);
        if (routable_at(routable, static_cast<std::uint32_t>(owner))) {
            return owner;
        }
    }
    // Health at pick time: a replica that is down keeps its place in the table and its keys
    // go to their next choice, so no other replica's key moves (Pingora's approach).
    return first_eligible(
        key, [&](std::uint32_t r) { return r != excluded && routable_at(routable, r); });
}

std::size_t ring_snapshot::find(std::string_view name) const noexcept {
    for (std::size_t r = 0; r < replicas_.size(); ++r) {
        if (replicas_[r].name == name) {
            return r;
        }
    }
    return no_replica;
}

std::size_t ring_snapshot::slot_count() const noexcept {
    if (std::holds_alternative<slot_ring>(table_)) {
        return occupied_slots_.size();
    }
    if (const auto* ring = std::get_if<ketama_ring>(&table_)) {
        return ring->positions().size();
    }
    if (const auto* table = std::get_if<maglev_table>(&table_)) {
        return table->entries().size();
    }
    return 0;
}

slot_entry ring_snapshot::slot_at(std::size_t index) const noexcept {
    assert(index < slot_count());
    if (const auto* ring = std::get_if<slot_ring>(&table_)) {
        const std::uint32_t slot = occupied_slots_[index];
        return {slot, ring->owners()[slot]};
    }
    if (const auto* ring = std::get_if<ketama_ring>(&table_)) {
        return {ring->positions()[index], ring->owners()[index]};
    }
    const auto* table = std::get_if<maglev_table>(&table_);
    return {index, table->entries()[index]};
}

std::uint64_t ring_snapshot::position_space() const noexcept {
    switch (params_.algorithm) {
    case algorithm_kind::spec:
    case algorithm_kind::ring:
        return params_.slots;
    case algorithm_kind::maglev:
        return params_.table_size;
    case algorithm_kind::ketama:
    case algorithm_kind::bounded:
    case algorithm_kind::rendezvous:
        return 0;
    }
    return 0;
}

} // namespace hashing
