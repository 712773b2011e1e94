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
    CHECK(http::iequals("x-1_~", "X-1_~"));
    // Only letters fold: these pairs differ by 0x20 as 'A' and 'a' do.
    CHECK_FALSE(http::iequals("@", "`"));
    CHECK_FALSE(http::iequals("[", "{"));
    CHECK_FALSE(http::iequals("^", "~"));
    CHECK_FALSE(http::iequals("\x01", "!"));
    CHECK_FALSE(http::iequals("a\xc1", "a\xe1"));
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

TEST_CASE("hop_by_hop_filter: the same answers in linear time, a limit on the options", "[http]") {
    http::header_field fields[] = {{"Connection", "close, X-Hop"},
                                   {"Connection", " x-other ,X-HOP"},
                                   {"X-Hop", "1"},
                                   {"X-Request-ID", "7"}};
    const http::header_list h{fields};
    const http::hop_by_hop_filter filter{h};
    CHECK_FALSE(filter.too_many());
    for (auto name :
         {"Connection", "Keep-Alive", "transfer-encoding", "x-hop", "X-Other", "CLOSE"}) {
        CHECK(filter.drops(name));
        CHECK(filter.drops(name) == (http::is_hop_by_hop(name, h)));
    }
    CHECK_FALSE(filter.drops("X-Request-ID"));
    CHECK_FALSE(filter.drops("Host"));

    // Every option listed: up to the limit, all of them dropped; one more is too many.
    std::string many;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < http::hop_by_hop_filter::max_tokens; ++i) {
        names.push_back("X-Opt-" + std::to_string(i));
        many += (i ? ", " : "") + names.back();
    }
    http::header_field at_limit[] = {{"Connection", many}};
    const http::hop_by_hop_filter full{http::header_list{at_limit}};
    CHECK_FALSE(full.too_many());
    for (const auto& name : names) {
        CHECK(full.drops(name));
    }
    CHECK_FALSE(full.drops("X-Opt-999"));
    many += ", X-One-More";
    http::header_field over[] = {{"Connection", many}};
    CHECK(http::hop_by_hop_filter{http::header_list{over}}.too_many());
}
