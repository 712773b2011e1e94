// Which header fields belong to one connection and must not be forwarded by a proxy
// (RFC 9110 7.6.1): the fixed list plus every name the Connection field lists. Pure
// functions over header_list views; no allocation, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "http/header_list.hpp"

namespace http {

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
bool is_hop_by_hop(std::string_view name);

// True for the fixed list and for names listed in the message's Connection fields.
bool is_hop_by_hop(std::string_view name, const header_list& message_headers);

// The same question for every field of one message, in time linear in the number of
// fields: the Connection tokens are hashed once into a table (2 KiB: keep it on the stack,
// out of coroutine frames) of up to max_tokens; a message listing more is too_many(), for
// the caller to refuse.
class hop_by_hop_filter {
public:
    static constexpr std::size_t max_tokens = 64;

    explicit hop_by_hop_filter(const header_list& message_headers) noexcept;
    bool drops(std::string_view name) const noexcept;
    bool too_many() const noexcept { return too_many_; }

private:
    static constexpr std::size_t slots = 2 * max_tokens;
    static std::uint64_t hash(std::string_view name) noexcept; // case-insensitive
    // A slot: a token, or empty (size 0). Trivial, so that the table is left unwritten
    // until a first token arrives: most messages list none.
    struct slot {
        const char* data;
        std::size_t size;
        std::string_view view() const noexcept { return {data, size}; }
    };
    std::array<slot, slots> table_;
    std::size_t tokens_ = 0;
    bool too_many_ = false;
};

} // namespace http
