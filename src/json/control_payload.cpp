#include "json/control_payload.hpp"

namespace json {

namespace {

control_payload_result failure(std::string_view message) {
    control_payload_result r;
    r.error = message;
    return r;
}

bool only_whitespace(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

} // namespace

control_payload_result control_payload_parser::parse(std::string_view body) {
    if (only_whitespace(body)) {
        return {};
    }
    // NOTE: the non-throwing simdjson API (error codes) throughout: simdjson 3 throws
    // from the value-returning accessors when exceptions are enabled.
    simdjson::dom::element root;
    const simdjson::error_code parsed = parser_.parse(body.data(), body.size(), true).get(root);
    if (parsed == simdjson::NUMBER_ERROR || parsed == simdjson::NUMBER_OUT_OF_RANGE) {
        // simdjson refuses integers beyond 64 bits (valid JSON) as NUMBER_ERROR; no count
        // of instances is that large, and the only number we read is n.
        return failure("<Error> 'n' must be a positive integer");
    }
    if (parsed != simdjson::SUCCESS) {
        return failure("<Error> Payload is not valid JSON");
    }
    simdjson::dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) {
        return failure("<Error> Payload must be a JSON object");
    }
    control_payload_result result;
    for (simdjson::dom::key_value_pair field : object) {
        if (field.key == "n") {
            if (result.payload.n) {
                return failure("<Error> 'n' is given more than once");
            }
            // int64 and uint64 only: 4.0, "4", true and null are not integers here.
            std::uint64_t n = 0;
            std::int64_t signed_n = 0;
            if (field.value.is_uint64()) {
                if (field.value.get_uint64().get(n) != simdjson::SUCCESS) {
                    return failure("<Error> 'n' must be a positive integer");
                }
            } else if (field.value.is_int64() &&
                       field.value.get_int64().get(signed_n) == simdjson::SUCCESS && signed_n > 0) {
                n = static_cast<std::uint64_t>(signed_n);
            }
            if (n == 0) {
                return failure("<Error> 'n' must be a positive integer");
            }
            result.payload.n = n;
        } else if (field.key == "hostnames") {
            if (result.payload.hostnames) {
                return failure("<Error> 'hostnames' is given more than once");
            }
            simdjson::dom::array list;
            if (field.value.get_array().get(list) != simdjson::SUCCESS) {
                return failure("<Error> 'hostnames' must be a list of strings");
            }
            std::vector<std::string> names;
            names.reserve(list.size());
            for (simdjson::dom::element item : list) {
                std::string_view name;
                if (item.get_string().get(name) != simdjson::SUCCESS) {
                    return failure("<Error> 'hostnames' must be a list of strings");
                }
                names.emplace_back(name);
            }
            result.payload.hostnames = std::move(names);
        } else if (field.key == "weights") {
            if (result.payload.weights) {
                return failure("<Error> 'weights' is given more than once");
            }
            simdjson::dom::array list;
            if (field.value.get_array().get(list) != simdjson::SUCCESS) {
                return failure("<Error> 'weights' must be a list of positive integers");
            }
            std::vector<std::uint64_t> weights;
            weights.reserve(list.size());
            for (simdjson::dom::element item : list) {
                std::uint64_t weight = 0;
                if (!item.is_uint64() || item.get_uint64().get(weight) != simdjson::SUCCESS ||
                    weight == 0) {
                    return failure("<Error> 'weights' must be a list of positive integers");
                }
                weights.push_back(weight);
            }
            result.payload.weights = std::move(weights);
        }
    }
    return result;
}

} // namespace json
