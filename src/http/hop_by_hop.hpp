// Which header fields belong to one connection and must not be forwarded by a proxy
// (RFC 9110 7.6.1): the fixed list plus every name the Connection field lists. Pure
// functions over header_list views; no allocation, any thread.
#pragma once

#include <string_view>

#include "http/header_list.hpp"

namespace http {

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
bool is_hop_by_hop(std::string_view name);

// True for the fixed list and for names listed in the message's Connection fields.
bool is_hop_by_hop(std::string_view name, const header_list& message_headers);

} // namespace http
