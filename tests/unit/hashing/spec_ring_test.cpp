// The assignment's ring, checked against positions worked out by hand.
#include "hashing/ring_snapshot.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <vector>

using namespace hashing;

namespace {

ring_params spec_params(probe_mode probe = probe_mode::linear) {
    ring_params p;
    p.algorithm = algorithm_kind::spec;
    p.probe = probe;
    return p;
}

membership servers(std::initializer_list<std::uint64_t> ids) {
    membership m;
    for (std::uint64_t id : ids) {
        m.push_back({std::string("Server").append(std::to_string(id)), id});
    }
    return m;
}

// slot -> server id, from the snapshot's slot map.
std::map<std::uint64_t, std::uint64_t> slot_map(const ring_snapshot& s) {
    std::map<std::uint64_t, std::uint64_t> out;
    for (std::size_t i = 0; i < s.slot_count(); ++i) {
        const slot_entry e = s.slot_at(i);
        out[e.position] = s.replicas()[e.replica].id;
    }
    return out;
}

std::vector<std::uint64_t> slots_of(const std::map<std::uint64_t, std::uint64_t>& map,
                                    std::uint64_t id) {
    std::vector<std::uint64_t> out;
    for (auto [slot, owner] : map) {
        if (owner == id) {
            out.push_back(slot);
        }
    }
    return out;
}

} // namespace

TEST_CASE("spec formulas are the assignment's") {
    // H(i) = i^2 + 2i + 17 mod 512
    CHECK(spec_request_slot(0, 512) == 17);
    CHECK(spec_request_slot(1, 512) == 20);
    CHECK(spec_request_slot(3, 512) == 32);
    CHECK(spec_request_slot(10, 512) == 137);
    CHECK(spec_request_slot(100, 512) == (100 * 100 + 200 + 17) % 512); // 10217 % 512 = 489
    CHECK(spec_request_slot(123456, 512) ==
          static_cast<std::uint32_t>((123456ULL * 123456 + 2 * 123456 + 17) % 512));
    // Phi(i, j) = i^2 + j^2 + 2j + 25 mod 512
    CHECK(spec_vnode_slot(1, 0, 512) == 26);
    CHECK(spec_vnode_slot(2, 8, 512) == 109);
    CHECK(spec_vnode_slot(30, 0, 512) == (900 + 25) % 512);
    // Huge ids: computed on residues, equal to the exact formula modulo 2^64 arithmetic.
    const std::uint64_t big = 0xFFFFFFFFFFFFFFFFULL;
    CHECK(spec_request_slot(big, 512) ==
          static_cast<std::uint32_t>((big * big + 2 * big + 17) % 512));
}

TEST_CASE("spec: server 1 occupies the hand-computed slots") {
    auto s = ring_snapshot::build(servers({1}), spec_params());
    REQUIRE(s);
    CHECK(slots_of(slot_map(**s), 1) ==
          std::vector<std::uint64_t>{26, 29, 34, 41, 50, 61, 74, 89, 106});
    CHECK((*s)->position_space() == 512);
}

TEST_CASE("spec: later servers collide and probe linearly to the right") {
    auto s = ring_snapshot::build(servers({1, 2, 3, 4}), spec_params());
    REQUIRE(s);
    const auto map = slot_map(**s);
    CHECK(slots_of(map, 1) == std::vector<std::uint64_t>{26, 29, 34, 41, 50, 61, 74, 89, 106});
    // Phi(2, 0) = 29 is server 1's: probe to 30. The rest are free.
    CHECK(slots_of(map, 2) == std::vector<std::uint64_t>{30, 32, 37, 44, 53, 64, 77, 92, 109});
    // Phi(3, 0) = 34 (server 1) -> 35; Phi(3, 1) = 37 (server 2) -> 38.
    CHECK(slots_of(map, 3) == std::vector<std::uint64_t>{35, 38, 42, 49, 58, 69, 82, 97, 114});
    // Phi(4, 0) = 41 (1), 42 (3) -> 43; Phi(4, 1) = 44 (2) -> 45; Phi(4, 2) = 49 (3), 50 (1)
    // -> 51; Phi(4, 6) = 89 (1) -> 90.
    CHECK(slots_of(map, 4) == std::vector<std::uint64_t>{43, 45, 51, 56, 65, 76, 90, 104, 121});
    CHECK(map.size() == 36);
}

TEST_CASE("spec: quadratic probing steps 1, 4, 9, 16") {
    auto s = ring_snapshot::build(servers({1, 2, 3, 4}), spec_params(probe_mode::quadratic));
    REQUIRE(s);
    const auto map = slot_map(**s);
    // Servers 1-3 never need a second probe, so they sit where linear probing puts them.
    CHECK(slots_of(map, 3) == std::vector<std::uint64_t>{35, 38, 42, 49, 58, 69, 82, 97, 114});
    // Server 4: j=0 41 -> 42 taken -> 41+4 = 45; j=1 44 -> 45 (own j=0) -> 44+4 = 48;
    // j=2 49 -> 50 -> 53 -> 58 all taken -> 49+16 = 65; j=4 65 (own j=2) -> 66.
    CHECK(slots_of(map, 4) == std::vector<std::uint64_t>{45, 48, 56, 65, 66, 76, 90, 104, 121});
}

TEST_CASE("spec: a request goes to the first occupied slot clockwise from H(i)") {
    auto s = ring_snapshot::build(servers({1, 2, 3}), spec_params());
    REQUIRE(s);
    const ring_snapshot& ring = **s;
    auto owner_id = [&](std::uint64_t request_id) {
        return ring.replicas()[ring.lookup(make_request_key(request_id))].id;
    };
    CHECK(owner_id(1) == 1);  // H = 20 -> 26 (server 1)
    CHECK(owner_id(3) == 2);  // H = 32 -> 32 (server 2)
    CHECK(owner_id(4) == 1);  // H = 41 -> 41 (server 1)
    CHECK(owner_id(5) == 2);  // H = 52 -> 53 (server 2)
    CHECK(owner_id(2) == 1);  // H = 25 -> 26 (server 1)
    CHECK(owner_id(10) == 1); // H = 137, past the last slot (114): wraps to 26
    // The retry target is the next distinct owner clockwise: from 32 (server 2) to 34 (1).
    CHECK(ring.replicas()[ring.lookup_excluding(make_request_key(3), 1)].id == 1);
    // H(6) = 65 -> 69 (server 3); skipping server 3 reaches 74 (server 1).
    CHECK(owner_id(6) == 3);
    CHECK(ring.replicas()[ring.lookup_excluding(make_request_key(6), 2)].id == 1);
}

TEST_CASE("spec: a non-numeric key is turned into an integer with XXH3") {
    auto s = ring_snapshot::build(servers({1, 2, 3}), spec_params());
    REQUIRE(s);
    const request_key key = make_request_key(std::string_view("abc-def"));
    REQUIRE_FALSE(key.number);
    const request_key as_number = request_key{key.hash, key.hash};
    CHECK((*s)->lookup(key) == (*s)->lookup(as_number));
}

TEST_CASE("spec: membership too large for M slots is an error") {
    membership m;
    for (std::uint64_t i = 1; i <= 57; ++i) { // 57 x 9 = 513 > 512
        m.push_back({std::string("S").append(std::to_string(i)), i});
    }
    auto s = ring_snapshot::build(m, spec_params());
    REQUIRE_FALSE(s);
    CHECK(s.error().message.find("do not fit") != std::string::npos);
    m.pop_back();
    CHECK(ring_snapshot::build(m, spec_params()));
}
