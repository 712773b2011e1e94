#pragma once
// The offline half of the hash-function analysis (experiment A-4), behind `lb-hash` and the
// benchmarks: generates request keys from a seed, routes them through snapshots of N = 2..k
// replicas and measures balance (counts, max/mean, standard deviation, shares against the
// weights) and churn (the fraction of keys that change replica when one replica joins, leaves,
// or is down: skipped at pick time while the table stays). Single-threaded, called from
// tools and tests only; allocates freely.

#include "hashing/error.hpp"
#include "hashing/key_hash.hpp"
#include "hashing/membership.hpp"
#include "hashing/ring_params.hpp"
#include "hashing/ring_snapshot.hpp"

#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

namespace hashing {

enum class key_source {
    ids,     // random 6-digit request ids, 100000..999999, as lbd generates them
    strings, // random 16-character [a-z0-9] strings, like X-Request-ID values
};

std::string_view to_string(key_source source) noexcept;
std::expected<key_source, error> parse_key_source(std::string_view name);

// `count` keys from a std::mt19937_64 seeded with `seed` (the engine's output is fixed by the
// standard, so a seed gives the same keys everywhere).
std::vector<request_key> generate_keys(key_source source, std::size_t count, std::uint64_t seed);

// Replicas "Server1".."ServerN" with ids 1..N, the names the control API generates; replica
// i gets weights[i - 1] (1 past the end of `weights`).
membership numbered_membership(std::uint32_t replicas, std::span<const std::uint32_t> weights = {});

// The replica index of each key, with only the replicas `routable` allows (all when empty).
// For `bounded`, every key stays in flight, so each lookup sees the loads of all the keys
// before it (the worst case its bound is meant for).
std::vector<std::size_t> route_keys(const ring_snapshot& snapshot,
                                    std::span<const request_key> keys,
                                    std::span<const std::uint8_t> routable = {});

// Fraction of keys whose replica (compared by name) differs between two routings.
double moved_fraction(const ring_snapshot& before, std::span<const std::size_t> routed_before,
                      const ring_snapshot& after, std::span<const std::size_t> routed_after);

struct lab_config {
    ring_params params; // params.algorithm is ignored: `algorithms` says which to run
    std::vector<algorithm_kind> algorithms{default_algorithm};
    key_source keys = key_source::ids;
    std::size_t requests = 10000;
    std::uint64_t seed = 1;
    std::uint32_t min_replicas = 2;
    std::uint32_t max_replicas = 6;
    std::vector<std::uint32_t> weights; // Server1's first; 1 for the rest
};

struct lab_row {
    algorithm_kind algorithm{};
    std::uint32_t replicas = 0;
    std::vector<std::uint64_t> counts; // per replica, Server1 first
    double mean = 0;
    std::uint64_t max = 0;
    double max_over_mean = 0;
    double stddev = 0;         // population standard deviation of counts
    double moved_on_join = 0;  // fraction of keys moved when Server<N+1> joins
    double optimal_join = 0;   // the newcomer's weight share: 1 / (N + 1) without weights
    double moved_on_leave = 0; // fraction moved when Server1 leaves (the table is rebuilt)
    double optimal_leave = 0;  // Server1's share of the keys: only those must move
    double moved_on_down = 0;  // fraction moved when Server1 is down (skipped at pick time)
    // Per replica: its share of the keys, and its weight's share of the total weight.
    std::vector<double> shares;
    std::vector<double> weight_shares;
};

// One row per algorithm and N, algorithms in config order, N ascending. Fails when the
// configuration is invalid (bad params, min > max, a spec ring too small for max + 1).
std::expected<std::vector<lab_row>, error> run_distribution_lab(const lab_config& config);

} // namespace hashing
