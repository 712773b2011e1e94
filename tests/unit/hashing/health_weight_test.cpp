// Health at pick time and weights (docs/design.md, "Routing"): a replica that is down keeps
// its place in the table and only its own keys move; a replica's share of the keys follows its
// weight; and routing depends on names, ids and weights only, never on the order.
#include "hashing/distribution_lab.hpp"
#include "hashing/ring_snapshot.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace hashing;

namespace {

std::shared_ptr<const ring_snapshot> build(membership m, algorithm_kind kind) {
    ring_params p;
    p.algorithm = kind;
    auto s = ring_snapshot::build(std::move(m), p);
    REQUIRE(s);
    return *s;
}

} // namespace

TEST_CASE("a replica that is down moves exactly its own keys, every algorithm but bounded") {
    const algorithm_kind kind =
        GENERATE(algorithm_kind::spec, algorithm_kind::ring, algorithm_kind::ketama,
                 algorithm_kind::maglev, algorithm_kind::rendezvous);
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::ids, 20000, 3);
    for (std::uint32_t n = 2; n <= 10; ++n) {
        auto snapshot = build(numbered_membership(n), kind);
        const auto all_up = route_keys(*snapshot, keys);
        for (std::uint32_t down = 0; down < n; ++down) {
            std::vector<std::uint8_t> routable(n, 1);
            routable[down] = 0;
            const auto routed = route_keys(*snapshot, keys, routable);
            for (std::size_t k = 0; k < keys.size(); ++k) {
                CAPTURE(n, down, k);
                REQUIRE(routed[k] != down);
                // A key moves if and only if its replica is the one that is down.
                REQUIRE((routed[k] != all_up[k]) == (all_up[k] == down));
            }
        }
    }
}

TEST_CASE("health at pick time: a down replica's keys go to their next choice, the retry's") {
    const auto keys = generate_keys(key_source::strings, 2000, 5);
    for (algorithm_kind kind : all_algorithms()) {
        CAPTURE(to_string(kind));
        if (kind == algorithm_kind::bounded) {
            continue; // its loads decide, not only the order
        }
        auto snapshot = build(numbered_membership(6), kind);
        std::vector<std::uint8_t> routable(6, 1);
        routable[2] = 0;
        for (const request_key& key : keys) {
            const std::size_t first = snapshot->lookup(key);
            if (first == 2) {
                CHECK(snapshot->lookup(key, {}, routable) == snapshot->lookup_excluding(key, 2));
            }
        }
        // With every replica down there is nobody to pick.
        const std::vector<std::uint8_t> none(6, 0);
        CHECK(snapshot->lookup(keys[0], {}, none) == ring_snapshot::no_replica);
    }
}

TEST_CASE("weights: each replica's share within 2 points of its weight's share") {
    // 100,000 keys over weights 1, 2, 3: shares 1/6, 2/6, 3/6.
    const algorithm_kind kind =
        GENERATE(algorithm_kind::maglev, algorithm_kind::ketama, algorithm_kind::rendezvous);
    CAPTURE(to_string(kind));
    const std::vector<std::uint32_t> weights{1, 2, 3};
    const auto keys = generate_keys(key_source::strings, 100000, 11);
    auto snapshot = build(numbered_membership(3, weights), kind);
    std::vector<std::size_t> counts(3, 0);
    for (std::size_t r : route_keys(*snapshot, keys)) {
        ++counts[r];
    }
    for (std::size_t r = 0; r < 3; ++r) {
        const double share = static_cast<double>(counts[r]) / static_cast<double>(keys.size());
        const double expected = weights[r] / 6.0;
        CAPTURE(r, share, expected);
        CHECK(std::abs(share - expected) <= 0.02);
    }
}

TEST_CASE("weights: the slotted rings give a heavier replica more virtual servers") {
    for (algorithm_kind kind : {algorithm_kind::spec, algorithm_kind::ring}) {
        CAPTURE(to_string(kind));
        auto light = build(numbered_membership(3), kind);
        auto heavy = build(numbered_membership(3, std::vector<std::uint32_t>{1, 1, 4}), kind);
        const auto owned = [](const ring_snapshot& s, std::uint32_t replica) {
            std::size_t slots = 0;
            for (std::size_t i = 0; i < s.slot_count(); ++i) {
                slots += s.slot_at(i).replica == replica;
            }
            return slots;
        };
        CHECK(owned(*heavy, 2) > 3 * owned(*light, 2));
    }
}

TEST_CASE("weights are validated and change routing only where they differ") {
    membership zero = numbered_membership(2);
    zero[1].weight = 0;
    ring_params p;
    CHECK_FALSE(ring_snapshot::build(zero, p));
    membership huge = numbered_membership(2);
    huge[1].weight = max_weight + 1;
    CHECK_FALSE(ring_snapshot::build(huge, p));
    // Equal weights other than 1 route like weight 1 (only the proportions matter) for the
    // algorithms whose table is made of rounds or scores.
    const auto keys = generate_keys(key_source::strings, 3000, 13);
    for (algorithm_kind kind : {algorithm_kind::maglev, algorithm_kind::rendezvous}) {
        auto ones = build(numbered_membership(4), kind);
        auto fives = build(numbered_membership(4, std::vector<std::uint32_t>{5, 5, 5, 5}), kind);
        CHECK(route_keys(*ones, keys) == route_keys(*fives, keys));
    }
}

TEST_CASE("with weights too, routing depends on names, ids and weights, not on the order") {
    const algorithm_kind kind =
        GENERATE(algorithm_kind::spec, algorithm_kind::ring, algorithm_kind::ketama,
                 algorithm_kind::maglev, algorithm_kind::rendezvous, algorithm_kind::bounded);
    CAPTURE(to_string(kind));
    const auto keys = generate_keys(key_source::strings, 5000, 17);
    membership m = numbered_membership(7, std::vector<std::uint32_t>{3, 1, 4, 1, 5, 9, 2});
    auto forward = build(m, kind);
    std::mt19937 shuffle_seed(23);
    std::shuffle(m.begin(), m.end(), shuffle_seed);
    auto shuffled = build(m, kind);
    const auto a = route_keys(*forward, keys);
    const auto b = route_keys(*shuffled, keys);
    for (std::size_t k = 0; k < keys.size(); ++k) {
        REQUIRE(forward->replicas()[a[k]].name == shuffled->replicas()[b[k]].name);
    }
}
