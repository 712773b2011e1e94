#include "hashing/ring_params.hpp"

#include <array>
#include <string>

namespace hashing {

namespace {

constexpr std::array algorithms{algorithm_kind::spec,       algorithm_kind::ring,
                                algorithm_kind::ketama,     algorithm_kind::maglev,
                                algorithm_kind::rendezvous, algorithm_kind::bounded};

} // namespace

std::span<const algorithm_kind> all_algorithms() noexcept {
    return algorithms;
}

std::string_view to_string(algorithm_kind kind) noexcept {
    switch (kind) {
    case algorithm_kind::spec:
        return "spec";
    case algorithm_kind::ring:
        return "ring";
    case algorithm_kind::ketama:
        return "ketama";
    case algorithm_kind::maglev:
        return "maglev";
    case algorithm_kind::rendezvous:
        return "rendezvous";
    case algorithm_kind::bounded:
        return "bounded";
    }
    return "?";
}

std::string_view to_string(probe_mode mode) noexcept {
    return mode == probe_mode::linear ? "linear" : "quadratic";
}

std::expected<algorithm_kind, error> parse_algorithm(std::string_view name) {
    for (algorithm_kind kind : algorithms) {
        if (to_string(kind) == name) {
            return kind;
        }
    }
    return std::unexpected(error{"unknown hash algorithm '" + std::string(name) +
                                 "' (expected spec, ring, ketama, maglev, rendezvous or "
                                 "bounded)"});
}

std::expected<probe_mode, error> parse_probe(std::string_view name) {
    if (name == "linear") {
        return probe_mode::linear;
    }
    if (name == "quadratic") {
        return probe_mode::quadratic;
    }
    return std::unexpected(
        error{"unknown probe '" + std::string(name) + "' (expected linear or quadratic)"});
}

bool is_prime(std::uint64_t n) noexcept {
    if (n < 2) {
        return false;
    }
    for (std::uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) {
            return false;
        }
    }
    return true;
}

std::expected<void, error> validate(const ring_params& params) {
    // Upper bounds keep a mistyped flag from allocating gigabytes on the control thread.
    constexpr std::uint32_t max_slots = 1u << 24;
    if (params.slots < 1 || params.slots > max_slots) {
        return std::unexpected(error{"slots must be between 1 and 16777216"});
    }
    if (params.vnodes < 1 || params.vnodes > params.slots) {
        return std::unexpected(error{"vnodes must be between 1 and the number of slots"});
    }
    if (params.points < 1 || params.points > 100000) {
        return std::unexpected(error{"points must be between 1 and 100000"});
    }
    if (params.table_size > max_slots || !is_prime(params.table_size)) {
        return std::unexpected(error{"table size must be a prime no larger than 16777216 "
                                     "(Maglev's permutations need it; 65537 is the default)"});
    }
    // NaN fails this comparison too.
    if (!(params.load_factor >= 1.0 && params.load_factor <= 100.0)) {
        return std::unexpected(error{"load factor must be between 1.0 and 100.0"});
    }
    return {};
}

} // namespace hashing
