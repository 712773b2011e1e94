#include "http/hop_by_hop.hpp"

namespace http {

bool is_hop_by_hop(std::string_view name) {
    static constexpr std::string_view fixed[] = {
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "upgrade",
    };
    for (std::string_view f : fixed) {
        if (iequals(name, f)) {
            return true;
        }
    }
    return false;
}

bool is_hop_by_hop(std::string_view name, const header_list& message_headers) {
    return is_hop_by_hop(name) || message_headers.contains_token("connection", name);
}

} // namespace http
