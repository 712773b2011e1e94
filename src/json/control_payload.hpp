// Parses the control API's request body ({"n": 4, "hostnames": ["S5", "S4"],
// "weights": [2, 1]}) with
// simdjson into typed, optional fields, or into the "<Error> ..." message the client
// gets with a 400. Types only: business rules (n against the list, name syntax,
// membership) belong to the balancer. One control_payload_parser per thread (it holds
// simdjson's reusable parser buffers, grown to the largest body seen); the result owns
// its strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

namespace json {

struct control_payload {
    std::optional<std::uint64_t> n;                    // > 0 when present
    std::optional<std::vector<std::string>> hostnames; // may be empty when present
    std::optional<std::vector<std::uint64_t>> weights; // each > 0 when present
};

struct control_payload_result {
    control_payload payload;
    std::string error; // empty on success
    bool ok() const { return error.empty(); }
};

class control_payload_parser {
public:
    // Empty (or all-whitespace) body: success, no fields. Fields other than "n",
    // "hostnames" and "weights" are ignored. Never throws.
    control_payload_result parse(std::string_view body);

private:
    simdjson::dom::parser parser_;
};

} // namespace json
