#pragma once
// completion: what an SQE's user_data points to. It lives in the frame of the coroutine
// waiting for the operation, and that frame stays put until every CQE aimed at it has been
// reaped (docs/design.md, "Coroutines and the ring": a frame waiting on an SQE is never
// destroyed under the kernel's feet).
//
// user_data encoding: 0 means "nobody cares" (fire-and-forget cancels, ignored link
// timeouts); otherwise the address of a completion, with bit 0 set when the CQE belongs to
// the linked timeout that guards the operation rather than to the operation itself.

#include <coroutine>
#include <cstdint>

namespace runtime {

struct completion {
    std::coroutine_handle<> waiter_;
    int result_ = 0;
    std::uint32_t flags_ = 0;
    // CQEs still expected: 1 for a plain operation, 2 with a linked timeout.
    std::uint8_t pending_ = 1;
    bool timed_out_ = false;
    // Set by cancel_slot::cancel(): the owner asked for the operation to end, whatever the
    // kernel answers (a receive that races its cancel with -ENOBUFS reports -ECANCELED).
    bool cancel_requested_ = false;
    // Multishot operations record each CQE themselves (and schedule their waiter when it
    // makes sense); single-shot ones leave this null. Runs inside the CQE walk, so it must
    // only record and schedule, never resume.
    void (*on_cqe_)(completion* self, int result, std::uint32_t flags) = nullptr;
};

// A completion that knows the object it belongs to, for multishot handlers.
template <typename Owner> struct owned_completion : completion {
    Owner* owner_ = nullptr;
    static Owner* owner_of(completion* self) noexcept {
        return static_cast<owned_completion*>(self)->owner_;
    }
};

inline constexpr std::uint64_t timeout_tag = 1;

inline std::uint64_t user_data_of(completion* c) {
    return reinterpret_cast<std::uintptr_t>(c);
}
inline std::uint64_t timeout_user_data_of(completion* c) {
    return reinterpret_cast<std::uintptr_t>(c) | timeout_tag;
}

} // namespace runtime
