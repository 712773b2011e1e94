#pragma once
// key_source: where the routing key of a request comes from (--hash-key):
// header:NAME (default header:X-Request-ID), cookie:NAME, query:NAME, path, client-ip,
// random. When the chosen source is absent the key is a random 6-digit request id, as in
// the assignment. Parsing allocates at start-up; extraction allocates nothing.

#include <expected>
#include <string>
#include <string_view>

#include "hashing/key_hash.hpp"
#include "http/request_head.hpp"

namespace balancer {

struct key_source {
    enum class kind : std::uint8_t { header, cookie, query, path, client_ip, random };
    kind what = kind::header;
    std::string name = "X-Request-ID";

    static std::expected<key_source, std::string> parse(std::string_view text);
    std::string describe() const;
};

// The key of one request. `random_id` (100000-999999) is used when the source is absent.
hashing::request_key extract_key(const key_source& source, const http::request_head& head,
                                 std::string_view client_ip, std::uint64_t random_id);

} // namespace balancer
