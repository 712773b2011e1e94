#pragma once
// Which consistent-hashing algorithm routes requests, and its parameters: parsed from flags
// (`--hash`, `--slots`, ...) and validated once at start-up or on the control thread before a
// snapshot is built. Plain values; parsing allocates only the error message.

#include "hashing/error.hpp"

#include <cstdint>
#include <expected>
#include <span>
#include <string_view>

namespace hashing {

enum class algorithm_kind {
    spec,       // the assignment's slotted ring: quadratic formulas, probing (see slot_ring.hpp)
    ring,       // the same slotted ring, positions from XXH3
    ketama,     // continuous 64-bit ring, many points per replica, binary search
    maglev,     // Maglev lookup table (Eisenbud et al., NSDI 2016)
    rendezvous, // highest random weight (Thaler and Ravishankar, 1998)
    bounded,    // bounded loads over ketama (Mirrokni, Thorup, Zadimoghaddam, SODA 2018)
};

// NOTE: maglev is the default (docs/design.md, "Routing"): the distribution analysis
// (lb-hash, experiment A-4) finds it the best balanced of the consistent algorithms.
inline constexpr algorithm_kind default_algorithm = algorithm_kind::maglev;

// Every algorithm, in the order the lab and the benchmarks print them.
std::span<const algorithm_kind> all_algorithms() noexcept;

enum class probe_mode {
    linear,    // slot + 1, + 2, ... (the assignment's default)
    quadratic, // slot + 1, + 4, + 9, ...
};

std::string_view to_string(algorithm_kind kind) noexcept;
std::string_view to_string(probe_mode mode) noexcept;

// Exact, lower-case names. An unknown name gives an error that lists the valid ones.
std::expected<algorithm_kind, error> parse_algorithm(std::string_view name);
std::expected<probe_mode, error> parse_probe(std::string_view name);

struct ring_params {
    algorithm_kind algorithm = default_algorithm;
    std::uint32_t slots = 512;             // spec, ring: M
    std::uint32_t vnodes = 9;              // spec, ring: K virtual servers per replica (log2 512)
    probe_mode probe = probe_mode::linear; // spec: how a colliding virtual server moves on
    // ketama, bounded: points per replica and unit of weight. libketama uses 160; 500 puts
    // weighted shares within 1 point of their weight share (lb-hash --weights).
    std::uint32_t points = 500;
    std::uint32_t table_size = 65537; // maglev: M, a prime
    double load_factor = 1.25;        // bounded: c, a replica takes at most ceil(c * average)
};

// Checks the parameters alone (ranges, a prime table size); the checks that depend on the
// number of replicas happen when a snapshot is built.
std::expected<void, error> validate(const ring_params& params);

bool is_prime(std::uint64_t n) noexcept;

} // namespace hashing
