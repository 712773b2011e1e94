#include "net/cidr.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace net {

namespace {
// The address's family and bytes (an IPv4-mapped IPv6 address as IPv4), or 0.
int parse_address(std::string_view text, std::array<std::uint8_t, 16>& bytes) {
    char buffer[INET6_ADDRSTRLEN + 1] = {};
    if (text.empty() || text.size() >= sizeof buffer) {
        return 0;
    }
    std::memcpy(buffer, text.data(), text.size());
    bytes.fill(0);
    if (inet_pton(AF_INET, buffer, bytes.data()) == 1) {
        return AF_INET;
    }
    if (inet_pton(AF_INET6, buffer, bytes.data()) != 1) {
        return 0;
    }
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes.data(), mapped, sizeof mapped) == 0) {
        std::memmove(bytes.data(), bytes.data() + 12, 4);
        std::memset(bytes.data() + 4, 0, 12);
        return AF_INET;
    }
    return AF_INET6;
}
} // namespace

std::expected<cidr, std::string> cidr::parse(std::string_view text) {
    const auto slash = text.find('/');
    cidr out;
    out.family_ = parse_address(text.substr(0, slash), out.bytes_);
    if (out.family_ == 0) {
        return std::unexpected("'" + std::string(text) +
                               "' is not an IP network (ADDRESS or ADDRESS/PREFIX)");
    }
    const unsigned bits = out.family_ == AF_INET ? 32 : 128;
    out.prefix_ = bits;
    if (slash != std::string_view::npos) {
        const std::string_view prefix = text.substr(slash + 1);
        const auto [end, error] =
            std::from_chars(prefix.data(), prefix.data() + prefix.size(), out.prefix_);
        if (prefix.empty() || error != std::errc{} || end != prefix.data() + prefix.size() ||
            out.prefix_ > bits) {
            return std::unexpected("'" + std::string(text) + "': the prefix must be 0 to " +
                                   std::to_string(bits));
        }
    }
    // Host bits are cleared, so "10.1.2.3/8" means 10.0.0.0/8.
    for (unsigned bit = out.prefix_; bit < bits; ++bit) {
        out.bytes_[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
    }
    return out;
}

bool cidr::contains(std::string_view address) const noexcept {
    std::array<std::uint8_t, 16> bytes{};
    if (parse_address(address, bytes) != family_) {
        return false;
    }
    const unsigned whole = prefix_ / 8;
    if (std::memcmp(bytes.data(), bytes_.data(), whole) != 0) {
        return false;
    }
    const unsigned rest = prefix_ % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff00U >> rest);
    return (bytes[whole] & mask) == bytes_[whole];
}

std::string cidr::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family_, bytes_.data(), text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix_);
}

} // namespace net
