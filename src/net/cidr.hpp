#pragma once
// cidr: an IP network ("10.0.0.0/8", "::1/128", or one address) and whether a client's
// address text belongs to it. IPv4 clients seen through an IPv6 socket ("::ffff:a.b.c.d")
// match IPv4 networks. Plain value; any thread; no allocation after parse().

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace net {

class cidr {
public:
    static std::expected<cidr, std::string> parse(std::string_view text);
    // `address`: an IPv4 or IPv6 address as text (an http request's client_ip).
    bool contains(std::string_view address) const noexcept;
    std::string to_string() const;

private:
    int family_ = 0; // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> bytes_{};
    unsigned prefix_ = 0;
};

} // namespace net
