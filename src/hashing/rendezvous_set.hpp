#pragma once
// Rendezvous (highest random weight) hashing, Thaler and Ravishankar 1998: a key goes to the
// replica with the largest score mix(key ^ seed(replica)). Perfectly consistent (removing a
// replica moves only its keys) but O(N) per lookup. With unequal weights the score is
// w / -ln(u), u the mix mapped into (0, 1) (Resch, "Weighted rendezvous hashing"): a replica
// wins a share w / sum(w) of the keys. Built on the control thread (two words per replica),
// then immutable.

#include "hashing/hash_range.hpp"
#include "hashing/membership.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace hashing {

class rendezvous_set {
public:
    explicit rendezvous_set(std::span<const replica_info> replicas);

    // The eligible replica with the highest score, or UINT32_MAX when none is eligible.
    template <typename Eligible>
    std::uint32_t owner_if(std::uint64_t hash, Eligible&& eligible) const noexcept {
        std::uint32_t best = UINT32_MAX;
        if (!weighted_) {
            std::uint64_t best_score = 0;
            for (std::size_t r = 0; r < seeds_.size(); ++r) {
                const std::uint64_t score = mix64(hash ^ seeds_[r]);
                // Ties (equal 64-bit scores) go to the lower seed, an order-free rule.
                if (eligible(static_cast<std::uint32_t>(r)) &&
                    (best == UINT32_MAX || score > best_score ||
                     (score == best_score && seeds_[r] < seeds_[best]))) {
                    best = static_cast<std::uint32_t>(r);
                    best_score = score;
                }
            }
            return best;
        }
        double best_score = 0;
        for (std::size_t r = 0; r < seeds_.size(); ++r) {
            const double score = weighted_score(mix64(hash ^ seeds_[r]), weights_[r]);
            if (eligible(static_cast<std::uint32_t>(r)) &&
                (best == UINT32_MAX || score > best_score ||
                 (score == best_score && seeds_[r] < seeds_[best]))) {
                best = static_cast<std::uint32_t>(r);
                best_score = score;
            }
        }
        return best;
    }

    // XXH3 of each replica's name, in membership order.
    std::span<const std::uint64_t> seeds() const noexcept { return seeds_; }

private:
    // w / -ln(u) with u = (top 53 bits + 0.5) / 2^53 in (0, 1).
    static double weighted_score(std::uint64_t mixed, std::uint32_t weight) noexcept;

    std::vector<std::uint64_t> seeds_;
    std::vector<std::uint32_t> weights_;
    bool weighted_ = false; // some weights differ: the float score decides
};

} // namespace hashing
