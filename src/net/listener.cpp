#include "net/listener.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace net {

std::expected<unique_fd, std::string> listen_on(const endpoint& where,
                                                const listen_options& options) {
    unique_fd fd{::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd) {
        return std::unexpected(std::string("socket: ") + std::strerror(errno));
    }
    const int on = 1;
    if (where.family() != AF_UNIX) {
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (options.reuse_port) {
            setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
        }
    } else {
        // A stale socket file from an earlier run would make bind fail with EADDRINUSE.
        ::unlink(reinterpret_cast<const sockaddr_un*>(&where.storage)->sun_path);
    }
    if (::bind(fd.get(), where.address(), where.length) != 0) {
        return std::unexpected("cannot listen on " + where.to_string() + ": " +
                               std::strerror(errno));
    }
    if (::listen(fd.get(), options.backlog) != 0) {
        return std::unexpected(std::string("listen: ") + std::strerror(errno));
    }
    return fd;
}

std::expected<std::optional<unique_fd>, std::string> inherited_listener() {
    const char* count = std::getenv("LISTEN_FDS");
    if (count == nullptr) {
        return std::optional<unique_fd>{};
    }
    if (std::strcmp(count, "1") != 0) {
        return std::unexpected(std::string("LISTEN_FDS=") + count + ": expected exactly 1");
    }
    int listening = 0;
    socklen_t length = sizeof listening;
    if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening == 0) {
        return std::unexpected("LISTEN_FDS=1 but fd 3 is not a listening socket");
    }
    fcntl(3, F_SETFD, FD_CLOEXEC);
    return std::optional<unique_fd>{unique_fd{3}};
}

void set_no_delay(int fd) noexcept {
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

} // namespace net
