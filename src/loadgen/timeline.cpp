#include "loadgen/timeline.hpp"

#include <cassert>

namespace loadgen {

void timeline::record(std::chrono::nanoseconds since_start, bool ok) {
    // The clock is monotonic, but a request that started before another may still be
    // recorded a little earlier than 0 in a merged clock: clamp rather than index -1.
    const auto index =
        since_start.count() <= 0 ? std::size_t{0} : static_cast<std::size_t>(since_start / width_);
    if (index >= buckets_.size()) {
        buckets_.resize(index + 1);
    }
    timeline_bucket& bucket = buckets_[index];
    if (ok) {
        ++bucket.ok;
    } else {
        ++bucket.errors;
    }
}

void timeline::merge(const timeline& other) {
    assert(other.width_ == width_);
    if (other.buckets_.size() > buckets_.size()) {
        buckets_.resize(other.buckets_.size());
    }
    for (std::size_t i = 0; i < other.buckets_.size(); ++i) {
        buckets_[i].ok += other.buckets_[i].ok;
        buckets_[i].errors += other.buckets_[i].errors;
    }
}

} // namespace loadgen
