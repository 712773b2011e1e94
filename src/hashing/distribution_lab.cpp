#include "hashing/distribution_lab.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

namespace hashing {

std::string_view to_string(key_source source) noexcept {
    return source == key_source::ids ? "ids" : "strings";
}

std::expected<key_source, error> parse_key_source(std::string_view name) {
    if (name == "ids") {
        return key_source::ids;
    }
    if (name == "strings") {
        return key_source::strings;
    }
    return std::unexpected(
        error{"unknown key source '" + std::string(name) + "' (expected ids or strings)"});
}

std::vector<request_key> generate_keys(key_source source, std::size_t count, std::uint64_t seed) {
    // Plain modulo, not std::uniform_int_distribution: the distributions are not specified
    // bit for bit, and the bias of 2^64 mod 900000 is far below sampling noise.
    std::mt19937_64 engine(seed);
    std::vector<request_key> keys;
    keys.reserve(count);
    static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string text(16, ' ');
    for (std::size_t i = 0; i < count; ++i) {
        if (source == key_source::ids) {
            keys.push_back(make_request_key(100000 + engine() % 900000));
        } else {
            for (char& c : text) {
                c = alphabet[engine() % alphabet.size()];
            }
            keys.push_back(make_request_key(std::string_view(text)));
        }
    }
    return keys;
}

membership numbered_membership(std::uint32_t replicas, std::span<const std::uint32_t> weights) {
    membership m;
    m.reserve(replicas);
    for (std::uint32_t i = 1; i <= replicas; ++i) {
        m.push_back(replica_info{std::string("Server").append(std::to_string(i)), i,
                                 i <= weights.size() ? weights[i - 1] : 1});
    }
    return m;
}

std::vector<std::size_t> route_keys(const ring_snapshot& snapshot,
                                    std::span<const request_key> keys,
                                    std::span<const std::uint8_t> routable) {
    std::vector<std::size_t> routed;
    routed.reserve(keys.size());
    if (snapshot.algorithm() != algorithm_kind::bounded) {
        for (const request_key& key : keys) {
            routed.push_back(snapshot.lookup(key, {}, routable));
        }
        return routed;
    }
    std::vector<std::uint32_t> in_flight(snapshot.size(), 0);
    std::uint64_t total = 0;
    for (const request_key& key : keys) {
        const std::size_t r = snapshot.lookup(key, replica_loads{in_flight, total}, routable);
        routed.push_back(r);
        if (r != ring_snapshot::no_replica) {
            ++in_flight[r];
            ++total;
        }
    }
    return routed;
}

double moved_fraction(const ring_snapshot& before, std::span<const std::size_t> routed_before,
                      const ring_snapshot& after, std::span<const std::size_t> routed_after) {
    const std::size_t n = std::min(routed_before.size(), routed_after.size());
    if (n == 0) {
        return 0;
    }
    std::size_t moved = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t a = routed_before[i];
        const std::size_t b = routed_after[i];
        if (a == ring_snapshot::no_replica || b == ring_snapshot::no_replica) {
            moved += a != b;
        } else {
            moved += before.replicas()[a].name != after.replicas()[b].name;
        }
    }
    return static_cast<double>(moved) / static_cast<double>(n);
}

std::expected<std::vector<lab_row>, error> run_distribution_lab(const lab_config& config) {
    if (config.min_replicas < 1 || config.min_replicas > config.max_replicas) {
        return std::unexpected(error{"replica range must satisfy 1 <= min <= max"});
    }
    if (config.max_replicas > 10000) {
        return std::unexpected(error{"at most 10000 replicas"});
    }
    if (config.requests < 1) {
        return std::unexpected(error{"at least one request"});
    }
    const std::vector<request_key> keys = generate_keys(config.keys, config.requests, config.seed);

    std::vector<lab_row> rows;
    for (algorithm_kind algorithm : config.algorithms) {
        ring_params params = config.params;
        params.algorithm = algorithm;
        auto build = [&](membership m) { return ring_snapshot::build(std::move(m), params); };
        for (std::uint32_t n = config.min_replicas; n <= config.max_replicas; ++n) {
            auto current = build(numbered_membership(n, config.weights));
            auto joined = build(numbered_membership(n + 1, config.weights));
            if (!current) {
                return std::unexpected(current.error());
            }
            if (!joined) {
                return std::unexpected(joined.error());
            }
            membership without_first = numbered_membership(n, config.weights);
            without_first.erase(without_first.begin());
            auto left = build(std::move(without_first));
            if (!left) {
                return std::unexpected(left.error());
            }

            const auto routed = route_keys(**current, keys);
            lab_row row;
            row.algorithm = algorithm;
            row.replicas = n;
            row.counts.assign(n, 0);
            for (std::size_t r : routed) {
                ++row.counts[r];
            }
            row.mean = static_cast<double>(keys.size()) / n;
            row.max = *std::max_element(row.counts.begin(), row.counts.end());
            row.max_over_mean = static_cast<double>(row.max) / row.mean;
            double square_sum = 0;
            for (std::uint64_t c : row.counts) {
                square_sum +=
                    (static_cast<double>(c) - row.mean) * (static_cast<double>(c) - row.mean);
            }
            row.stddev = std::sqrt(square_sum / n);

            row.moved_on_join =
                moved_fraction(**current, routed, **joined, route_keys(**joined, keys));
            // Only the newcomer's share must move: its weight over the new total.
            std::uint64_t joined_weight = 0;
            for (const replica_info& r : (*joined)->replicas()) {
                joined_weight += r.weight;
            }
            row.optimal_join = static_cast<double>((*joined)->replicas().back().weight) /
                               static_cast<double>(joined_weight);
            row.moved_on_leave =
                moved_fraction(**current, routed, **left, route_keys(**left, keys));
            row.optimal_leave =
                static_cast<double>(row.counts[0]) / static_cast<double>(keys.size());
            std::vector<std::uint8_t> first_down(n, 1);
            first_down[0] = 0;
            row.moved_on_down = moved_fraction(**current, routed, **current,
                                               route_keys(**current, keys, first_down));
            std::uint64_t weights = 0;
            for (const replica_info& r : (*current)->replicas()) {
                weights += r.weight;
            }
            for (std::size_t r = 0; r < n; ++r) {
                row.shares.push_back(static_cast<double>(row.counts[r]) /
                                     static_cast<double>(keys.size()));
                row.weight_shares.push_back(static_cast<double>((*current)->replicas()[r].weight) /
                                            static_cast<double>(weights));
            }
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

} // namespace hashing
