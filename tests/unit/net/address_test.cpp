// Addresses without the network: cidr matching, numeric parsing that never resolves,
// net::resolve off the reactor's thread, and a peer address as text.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include <netinet/in.h>

#include "net/cidr.hpp"
#include "net/client_record.hpp"
#include "net/endpoint.hpp"
#include "net/resolver.hpp"
#include "runtime/reactor.hpp"

TEST_CASE("cidr: networks, single addresses and mapped IPv4", "[net]") {
    auto private8 = net::cidr::parse("10.1.2.3/8");
    REQUIRE(private8);
    CHECK(private8->to_string() == "10.0.0.0/8");
    CHECK(private8->contains("10.255.0.1"));
    CHECK_FALSE(private8->contains("11.0.0.1"));
    CHECK(private8->contains("::ffff:10.0.0.7"));
    CHECK_FALSE(private8->contains("::1"));
    CHECK_FALSE(private8->contains(""));
    CHECK_FALSE(private8->contains("not an address"));

    auto odd = net::cidr::parse("192.168.1.160/27");
    REQUIRE(odd);
    CHECK(odd->contains("192.168.1.191"));
    CHECK_FALSE(odd->contains("192.168.1.192"));
    CHECK_FALSE(odd->contains("192.168.1.159"));

    auto host = net::cidr::parse("127.0.0.1");
    REQUIRE(host);
    CHECK(host->contains("127.0.0.1"));
    CHECK_FALSE(host->contains("127.0.0.2"));

    auto v6 = net::cidr::parse("fd00::/8");
    REQUIRE(v6);
    CHECK(v6->contains("fd12:3456::1"));
    CHECK_FALSE(v6->contains("fe80::1"));
    CHECK_FALSE(v6->contains("10.0.0.1"));

    auto everyone = net::cidr::parse("0.0.0.0/0");
    REQUIRE(everyone);
    CHECK(everyone->contains("203.0.113.9"));

    CHECK_FALSE(net::cidr::parse("10.0.0.0/33"));
    CHECK_FALSE(net::cidr::parse("10.0.0.0/"));
    CHECK_FALSE(net::cidr::parse("10.0.0.0/x"));
    CHECK_FALSE(net::cidr::parse("example.com/8"));
    CHECK_FALSE(net::cidr::parse(""));
}

TEST_CASE("endpoint::parse_numeric never resolves a name", "[net]") {
    CHECK(net::endpoint::parse_numeric("127.0.0.1:80")->to_string() == "127.0.0.1:80");
    CHECK(net::endpoint::parse_numeric("[::1]:80")->to_string() == "[::1]:80");
    auto named = net::endpoint::parse_numeric("localhost:80");
    REQUIRE_FALSE(named);
    CHECK(named.error() == "'localhost' is not an IP address");
    CHECK_FALSE(net::endpoint::parse_numeric("127.0.0.1:99999"));
}

TEST_CASE("resolve: numeric at once, names on a helper thread", "[net]") {
    runtime::reactor loop;
    auto numeric = loop.block_on(net::resolve("10.0.0.1:8080", std::chrono::milliseconds{100}));
    REQUIRE(numeric);
    CHECK(numeric->to_string() == "10.0.0.1:8080");
    // localhost comes from /etc/hosts: no network needed.
    auto named = loop.block_on(net::resolve("localhost:8080", std::chrono::milliseconds{5000}));
    REQUIRE(named);
    CHECK(named->port() == 8080);
    CHECK_FALSE(loop.block_on(net::resolve("localhost:x", std::chrono::milliseconds{5000})));
}

TEST_CASE("peer_address: a client's address as X-Forwarded-For writes it", "[net]") {
    const auto text_of = [](int family, std::initializer_list<std::uint8_t> bytes) {
        net::detail::peer_address peer;
        peer.family = static_cast<std::uint8_t>(family);
        std::copy(bytes.begin(), bytes.end(), peer.bytes.begin());
        char text[INET6_ADDRSTRLEN];
        const std::size_t length = peer.format(text);
        return std::string(text, length);
    };
    CHECK(text_of(AF_INET, {127, 0, 0, 1}) == "127.0.0.1");
    CHECK(text_of(AF_INET, {0, 0, 0, 0}) == "0.0.0.0");
    CHECK(text_of(AF_INET, {255, 255, 255, 255}) == "255.255.255.255");
    CHECK(text_of(AF_INET, {10, 200, 9, 99}) == "10.200.9.99");
    CHECK(text_of(AF_INET6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) ==
          "2001:db8::1");
    CHECK(text_of(0, {}).empty());
}
