#pragma once
// Listening sockets: opened once at start-up (TCP with SO_REUSEPORT so each worker can
// own one, or Unix), or taken over from a parent through socket activation
// (LISTEN_FDS=1, fd 3). Any thread; errors are messages for the user.

#include <expected>
#include <optional>
#include <string>

#include "net/endpoint.hpp"
#include "net/unique_fd.hpp"

namespace net {

struct listen_options {
    bool reuse_port = true;
    int backlog = 4096;
};

std::expected<unique_fd, std::string> listen_on(const endpoint& where,
                                                const listen_options& options = {});

// The socket handed over by a parent (LISTEN_FDS=1 and fd 3 is a listening socket), or
// nullopt when the environment says none was. An error when LISTEN_FDS is set but fd 3
// is not a listening stream socket.
std::expected<std::optional<unique_fd>, std::string> inherited_listener();

// Sets TCP_NODELAY on a TCP socket (no-op for Unix sockets).
void set_no_delay(int fd) noexcept;

} // namespace net
