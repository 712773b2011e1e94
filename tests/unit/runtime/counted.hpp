#pragma once
// counted: records constructions and destructions, to prove frames and buffers are freed
// (the idea of cppcoro's test/counted.hpp).

struct counted {
    static inline int constructed = 0;
    static inline int destroyed = 0;
    static void reset() { constructed = destroyed = 0; }
    static int alive() { return constructed - destroyed; }

    counted() { ++constructed; }
    counted(const counted&) { ++constructed; }
    counted(counted&&) noexcept { ++constructed; }
    ~counted() { ++destroyed; }
};
