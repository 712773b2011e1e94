#pragma once
// Small arithmetic shared by the algorithms: mapping a 64-bit hash onto [0, n) and mixing two
// 64-bit values. Header-only, pure, no allocation.

#include <bit>
#include <cstdint>

namespace hashing {

// Lemire's multiply-shift reduction ("A fast alternative to the modulo reduction", 2016):
// uniform for a uniform hash, and a multiply instead of a 40-cycle division by a runtime n.
// NOTE: it uses the high bits of the hash, so a table slot and a ring slot computed from the
// same hash are independent of `hash % n` folklore; build and lookup must both use it.
inline std::uint32_t reduce_range(std::uint64_t hash, std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>((static_cast<unsigned __int128>(hash) * n) >> 64);
}

// The rrmxmx finaliser (Pelle Evensen), which XXH3 itself uses on 4-8 byte inputs: every
// output bit depends on every input bit, so mix(key ^ seed_a) and mix(key ^ seed_b) behave as
// independent draws, which is what rendezvous hashing needs from its weights.
inline std::uint64_t mix64(std::uint64_t h) noexcept {
    h ^= std::rotl(h, 49) ^ std::rotl(h, 24);
    h *= 0x9FB21C651E98DF25ULL;
    h ^= (h >> 35) + 8;
    h *= 0x9FB21C651E98DF25ULL;
    return h ^ (h >> 28);
}

// Fixed XXH3 seeds, one per use, so the positions of one replica in different algorithms are
// unrelated. Fixed, never random: every process must place replicas identically.
inline constexpr std::uint64_t maglev_offset_seed = 0x6d61676c65762d6fULL; // "maglev-o"
inline constexpr std::uint64_t maglev_skip_seed = 0x6d61676c65762d73ULL;   // "maglev-s"
inline constexpr std::uint64_t rendezvous_seed = 0x72656e64657a766fULL;    // "rendezvo"

} // namespace hashing
