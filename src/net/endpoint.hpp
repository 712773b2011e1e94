#pragma once
// endpoint: a socket address parsed once from text: "HOST:PORT" (IPv4, a name resolved
// at parse time, "[v6]:PORT") or "unix:/path". Plain value; any thread.

#include <cstring>
#include <expected>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace net {

struct endpoint {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const noexcept { return storage.ss_family; }
    const sockaddr* address() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* address() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
    // The port of an IP endpoint, 0 for Unix sockets.
    int port() const noexcept;
    // 127.0.0.0/8, ::1 or a Unix socket: reachable from this machine only.
    bool is_local() const noexcept;
    // "127.0.0.1:8080", "[::1]:80", "unix:/run/x.sock".
    std::string to_string() const;

    // Parses text as above; `default_port` fills in "HOST" without a port when >= 0.
    // Returns an error message saying what is wrong. Name resolution may block: start-up
    // and control paths only.
    static std::expected<endpoint, std::string> parse(std::string_view text, int default_port = -1);
    // The same without name resolution (never blocks): IP addresses and Unix paths only.
    static std::expected<endpoint, std::string> parse_numeric(std::string_view text,
                                                              int default_port = -1);
    // Same family, address and port (or path): the bytes of the socket address.
    bool operator==(const endpoint& other) const noexcept {
        return length == other.length && std::memcmp(&storage, &other.storage, length) == 0;
    }

    // The address a bound socket actually got (port 0 becomes the kernel's choice).
    static std::expected<endpoint, std::string> of_socket(int fd);
};

} // namespace net
