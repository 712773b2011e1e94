#include <catch2/catch.hpp>

#include "http/header_list.hpp"
#include "http/hop_by_hop.hpp"

TEST_CASE("header_list: case-insensitive lookup and tokens", "[http]") {
    http::header_field fields[] = {{"Connection", "keep-alive, X-Secret"},
                                   {"x-secret", "1"},
                                   {"Accept", "a"},
                                   {"ACCEPT", "b"}};
    http::header_list h{fields};
    CHECK(h.size() == 4);
    CHECK(h.find("accept") == std::optional<std::string_view>("a"));
    CHECK(h.count("Accept") == 2);
    CHECK_FALSE(h.find("accep"));
    CHECK(h.contains_token("connection", "x-secret"));
    CHECK(h.contains_token("CONNECTION", "Keep-Alive"));
    CHECK_FALSE(h.contains_token("connection", "close"));
    CHECK(http::iequals("Content-Length", "content-LENGTH"));
    CHECK_FALSE(http::iequals("Content-Length", "Content-Lengt"));
}

TEST_CASE("hop_by_hop: fixed list and Connection-listed names", "[http]") {
    http::header_field fields[] = {{"Connection", "close, X-Hop"}, {"X-Hop", "1"}};
    http::header_list h{fields};
    for (auto name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                      "Transfer-Encoding", "UPGRADE"}) {
        CHECK(http::is_hop_by_hop(name));
    }
    CHECK_FALSE(http::is_hop_by_hop("Content-Length"));
    CHECK(http::is_hop_by_hop("x-hop", h));
    CHECK_FALSE(http::is_hop_by_hop("X-Request-ID", h));
}
