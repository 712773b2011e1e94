#pragma once
// The error type of the hashing module: a message for the operator, returned by the functions
// that validate configuration or build a snapshot (they run on the control thread, never on the
// request path). Allocates the message string.

#include <string>

namespace hashing {

struct error {
    std::string message;
};

} // namespace hashing
