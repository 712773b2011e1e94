#pragma once
// startup_error: the one exception type of the runtime, thrown only while a program sets
// itself up (ring creation, buffer registration, signal set-up), never on the I/O path.

#include <stdexcept>
#include <string>

namespace runtime {

class startup_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The message for a failed io_uring_setup: names the usual causes when the kernel said
// EPERM or ENOSYS (a seccomp profile, kernel.io_uring_disabled), else the errno text.
std::string describe_ring_setup_failure(int negative_errno);

} // namespace runtime
