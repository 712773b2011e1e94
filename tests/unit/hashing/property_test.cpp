// Properties every algorithm must have: determinism, presence, consistency on removal and on
// addition. Keys and memberships are generated from fixed seeds, so failures reproduce.
#include "hashing/distribution_lab.hpp"
#include "hashing/ring_snapshot.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace hashing;

namespace {

ring_params params_for(algorithm_kind kind) {
    ring_params p;
    p.algorithm = kind;
    return p;
}

// Names that are not just "ServerN", to show nothing depends on their shape.
membership mixed_membership(std::size_t n) {
    membership m;
    for (std::size_t i = 0; i < n; ++i) {
        m.push_back({std::string(i % 2 ? "web-" : "S").append(std::to_string(i * 7 + 3)), i + 1});
    }
    return m;
}

std::shared_ptr<const ring_snapshot> build_or_fail(membership m, algorithm_kind kind) {
    auto s = ring_snapshot::build(std::move(m), params_for(kind));
    REQUIRE(s);
    return *s;
}

std::vector<std::string> routed_names(const ring_snapshot& s, std::span<const request_key> keys) {
    std::vector<std::string> names;
    for (std::size_t r : route_keys(s, keys)) {
        REQUIRE(r < s.size());
        names.push_back(s.replicas()[r].name);
    }
    return names;
}

} // namespace

TEST_CASE("every algorithm: deterministic, and every key maps to a present replica") {
    const algorithm_kind kind =
        GENERATE(from_range(all_algorithms().begin(), all_algorithms().end()));
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::strings, 5000, 7);
    const auto ids = generate_keys(key_source::ids, 5000, 8);
    for (std::size_t n : {1, 2, 5, 17}) {
        auto a = build_or_fail(mixed_membership(n), kind);
        auto b = build_or_fail(mixed_membership(n), kind);
        CHECK(route_keys(*a, keys) == route_keys(*b, keys));
        CHECK(route_keys(*a, ids) == route_keys(*b, ids));
        for (std::size_t r : route_keys(*a, ids)) {
            REQUIRE(r < n);
        }
    }
}

TEST_CASE("every algorithm: routing depends on the set, not the order") {
    const algorithm_kind kind =
        GENERATE(algorithm_kind::spec, algorithm_kind::ring, algorithm_kind::ketama,
                 algorithm_kind::maglev, algorithm_kind::rendezvous, algorithm_kind::bounded);
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::strings, 5000, 9);
    membership m = mixed_membership(9);
    auto forward = build_or_fail(m, kind);
    std::reverse(m.begin(), m.end());
    auto backward = build_or_fail(m, kind);
    CHECK(routed_names(*forward, keys) == routed_names(*backward, keys));
}

TEST_CASE("removing a replica moves only its keys (ring, ketama, rendezvous: exactly)") {
    const algorithm_kind kind =
        GENERATE(algorithm_kind::ring, algorithm_kind::ketama, algorithm_kind::rendezvous);
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::strings, 20000, 11);
    for (std::size_t n : {2, 3, 6, 20}) {
        for (std::size_t removed : {std::size_t{0}, n / 2, n - 1}) {
            membership m = mixed_membership(n);
            auto before = routed_names(*build_or_fail(m, kind), keys);
            const std::string gone = m[removed].name;
            m.erase(m.begin() + static_cast<std::ptrdiff_t>(removed));
            auto after = routed_names(*build_or_fail(m, kind), keys);
            std::size_t moved_others = 0;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                REQUIRE(after[i] != gone);
                moved_others += before[i] != gone && before[i] != after[i];
            }
            CAPTURE(n, removed);
            CHECK(moved_others == 0);
        }
    }
}

TEST_CASE("maglev: removing a replica moves few of the other replicas' keys") {
    // Maglev trades perfect consistency for balance (NSDI 2016, section 5.3). Measured with

    const auto keys = generate_keys(key_source::strings, 50000, 12);
    for (std::size_t n : {3, 6, 20, 100}) {
        membership m = mixed_membership(n);
        auto before = routed_names(*build_or_fail(m, algorithm_kind::maglev), keys);
        const std::string gone = m[n / 2].name;
        m.erase(m.begin() + static_cast<std::ptrdiff_t>(n / 2));
        auto after = routed_names(*build_or_fail(m, algorithm_kind::maglev), keys);
        std::size_t others = 0;
        std::size_t moved_others = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            REQUIRE(after[i] != gone);
            if (before[i] != gone) {
                ++others;
                moved_others += before[i] != after[i];
            }
        }
        const double fraction = static_cast<double>(moved_others) / static_cast<double>(others);
        CAPTURE(n, fraction);
        CHECK(fraction < 0.03);
    }
}

TEST_CASE("adding a replica moves about 1/(N+1) of the keys, all to the newcomer") {
    // Tolerance follows each algorithm's own variance: the slotted ring has only 9 virtual
    // servers per replica, so a newcomer's share varies by about a third.
    struct tolerance {
        algorithm_kind kind;
        double low;
        double high;
        bool only_to_newcomer;
    };
    const tolerance t = GENERATE(tolerance{algorithm_kind::ring, 0.3, 2.2, true},
                                 tolerance{algorithm_kind::ketama, 0.7, 1.3, true},
                                 tolerance{algorithm_kind::maglev, 0.9, 1.1, false},
                                 tolerance{algorithm_kind::rendezvous, 0.9, 1.1, true});
    CAPTURE(to_string(t.kind));
    const auto keys = generate_keys(key_source::strings, 40000, 13);
    for (std::size_t n : {2, 3, 5, 9}) {
        membership m = mixed_membership(n + 1);
        const std::string newcomer = m.back().name;
        auto after = routed_names(*build_or_fail(m, t.kind), keys);
        m.pop_back();
        auto before = routed_names(*build_or_fail(m, t.kind), keys);
        std::size_t moved = 0;
        std::size_t moved_elsewhere = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            moved += before[i] != after[i];
            moved_elsewhere += before[i] != after[i] && after[i] != newcomer;
        }
        const double fraction = static_cast<double>(moved) / static_cast<double>(keys.size());
        const double optimum = 1.0 / static_cast<double>(n + 1);
        CAPTURE(n, fraction, optimum);
        CHECK(fraction >= t.low * optimum);
        CHECK(fraction <= t.high * optimum);
        if (t.only_to_newcomer) {
            CHECK(moved_elsewhere == 0);
        }
    }
}

TEST_CASE("spec: churn on join and leave is measured, and its keys only move to the newcomer") {
    // spec probes, so a join can shift a neighbour's probed slot; with ids 1..N the newcomer
    // is inserted last and displaces nobody, so every moved key goes to it.
    const auto keys = generate_keys(key_source::ids, 20000, 14);
    for (std::uint32_t n : {2u, 3u, 5u}) {
        auto before =
            routed_names(*build_or_fail(numbered_membership(n), algorithm_kind::spec), keys);
        auto after =
            routed_names(*build_or_fail(numbered_membership(n + 1), algorithm_kind::spec), keys);
        const std::string newcomer = std::string("Server").append(std::to_string(n + 1));
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (before[i] != after[i]) {
                REQUIRE(after[i] == newcomer);
            }
        }
    }
}

TEST_CASE("lookup_excluding: the next distinct replica, never the excluded one") {
    const algorithm_kind kind =
        GENERATE(from_range(all_algorithms().begin(), all_algorithms().end()));
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::ids, 3000, 15);
    auto one = build_or_fail(mixed_membership(1), kind);
    CHECK(one->lookup_excluding(keys[0], 0) == ring_snapshot::no_replica);
    CHECK(one->lookup_excluding(keys[0], 5) == 0);

    auto s = build_or_fail(mixed_membership(7), kind);
    std::vector<std::size_t> seconds(7, 0);
    for (const request_key& key : keys) {
        const std::size_t first = s->lookup(key);
        const std::size_t second = s->lookup_excluding(key, first);
        REQUIRE(second < s->size());
        REQUIRE(second != first);
        ++seconds[second];
        // Excluding a replica the key does not use changes nothing.
        CHECK(s->lookup_excluding(key, (first + 1) % 7) == first);
    }
    // Retries spread over the other replicas rather than piling on one.
    if (kind != algorithm_kind::spec) {
        for (std::size_t c : seconds) {
            CHECK(c > 0);
        }
    }
}

TEST_CASE("lookup_excluding on rings matches a walk over the slot map") {
    const algorithm_kind kind = GENERATE(algorithm_kind::ring, algorithm_kind::ketama);
    CAPTURE(to_string(kind));
    auto s = build_or_fail(mixed_membership(5), kind);
    std::vector<slot_entry> map;
    for (std::size_t i = 0; i < s->slot_count(); ++i) {
        map.push_back(s->slot_at(i));
    }
    REQUIRE(std::is_sorted(map.begin(), map.end(), [](const slot_entry& a, const slot_entry& b) {
        return a.position < b.position;
    }));
    for (const request_key& key : generate_keys(key_source::strings, 2000, 16)) {
        std::uint64_t position = key.hash;
        if (kind == algorithm_kind::ring) {
            position =
                static_cast<std::uint64_t>((static_cast<unsigned __int128>(key.hash) * 512) >> 64);
        }
        auto it =
            std::lower_bound(map.begin(), map.end(), position,
                             [](const slot_entry& e, std::uint64_t p) { return e.position < p; });
        std::size_t i = it == map.end() ? 0 : static_cast<std::size_t>(it - map.begin());
        const std::uint32_t first = map[i].replica;
        REQUIRE(s->lookup(key) == first);
        while (map[i].replica == first) {
            i = (i + 1) % map.size();
        }
        REQUIRE(s->lookup_excluding(key, first) == map[i].replica);
    }
}
