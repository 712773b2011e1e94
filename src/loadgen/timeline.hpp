#pragma once
// timeline: requests finished per fixed-width time bucket since the start of a run
// (completed OK, errors), the data of the A-3 failure chart. One per runner thread,
// merged at the end. No I/O; single-threaded; the bucket vector grows when time passes
// a bucket not seen yet (once per bucket, not per request).

#include <chrono>
#include <cstdint>
#include <vector>

namespace loadgen {

struct timeline_bucket {
    std::uint64_t ok = 0;     // 2xx responses
    std::uint64_t errors = 0; // non-2xx responses and requests that got no response
};

class timeline {
public:
    explicit timeline(std::chrono::nanoseconds bucket_width) : width_(bucket_width) {}

    // Counts one request that finished `since_start` after the run began.
    void record(std::chrono::nanoseconds since_start, bool ok);
    // Adds another thread's timeline of the same width.
    void merge(const timeline& other);

    std::chrono::nanoseconds width() const noexcept { return width_; }
    // Bucket i covers [i * width, (i + 1) * width).
    const std::vector<timeline_bucket>& buckets() const noexcept { return buckets_; }

private:
    std::chrono::nanoseconds width_;
    std::vector<timeline_bucket> buckets_;
};

} // namespace loadgen
