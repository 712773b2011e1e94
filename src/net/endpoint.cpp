#include "net/endpoint.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

namespace net {

int endpoint::port() const noexcept {
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    }
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    }
    return 0;
}

bool endpoint::is_local() const noexcept {
    if (family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (family() == AF_INET6) {
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
    }
    return family() == AF_UNIX;
}

std::string endpoint::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return std::string(text) + ":" + std::to_string(port());
    }
    if (family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        // append, not "[" + string: g++ 12 warns falsely (-Wrestrict) on the latter at -O3.
        std::string out = "[";
        out.append(text).append("]:").append(std::to_string(port()));
        return out;
    }
    if (family() == AF_UNIX) {
        std::string out = "unix:";
        out.append(reinterpret_cast<const sockaddr_un*>(&storage)->sun_path);
        return out;
    }
    return "unknown";
}

namespace {
std::expected<endpoint, std::string> parse_text(std::string_view text, int default_port,
                                                bool resolve) {
    endpoint out;
    if (text.starts_with("unix:")) {
        const std::string_view path = text.substr(5);
        sockaddr_un un{};
        if (path.empty() || path.size() >= sizeof un.sun_path) {
            return std::unexpected("bad Unix socket path in '" + std::string(text) + "'");
        }
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, path.data(), path.size());
        std::memcpy(&out.storage, &un, sizeof un);
        out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        return out;
    }
    std::string_view host = text;
    std::string_view port_text;
    if (text.starts_with("[")) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::unexpected("missing ']' in '" + std::string(text) + "'");
        }
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') {
                return std::unexpected("expected ':' after ']' in '" + std::string(text) + "'");
            }
            port_text = text.substr(close + 2);
        }
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    int port = default_port;
    if (!port_text.empty() || default_port < 0) {
        port = -1;
        const auto [end, error] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (error != std::errc{} || end != port_text.data() + port_text.size() || port < 0 ||
            port > 65535) {
            return std::unexpected("bad port in '" + std::string(text) +
                                   "' (expected HOST:PORT, PORT 0-65535)");
        }
    }
    if (host.empty()) {
        host = "0.0.0.0";
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (resolve ? 0 : AI_NUMERICHOST);
    addrinfo* found = nullptr;
    const std::string host_string(host);
    const std::string port_string = std::to_string(port);
    if (int rc = getaddrinfo(host_string.c_str(), port_string.c_str(), &hints, &found); rc != 0) {
        if (!resolve && rc == EAI_NONAME) {
            return std::unexpected("'" + host_string + "' is not an IP address");
        }
        return std::unexpected("cannot resolve '" + host_string + "': " + gai_strerror(rc));
    }
    std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
    out.length = found->ai_addrlen;
    freeaddrinfo(found);
    return out;
}
} // namespace

std::expected<endpoint, std::string> endpoint::parse(std::string_view text, int default_port) {
    return parse_text(text, default_port, true);
}

std::expected<endpoint, std::string> endpoint::parse_numeric(std::string_view text,
                                                             int default_port) {
    return parse_text(text, default_port, false);
}

std::expected<endpoint, std::string> endpoint::of_socket(int fd) {
    endpoint out;
    out.length = sizeof out.storage;
    if (getsockname(fd, out.address(), &out.length) != 0) {
        return std::unexpected(std::string("getsockname: ") + std::strerror(errno));
    }
    return out;
}

} // namespace net
