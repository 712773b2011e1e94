#include "balancer/control_access.hpp"

#include <algorithm>
#include <span>

#include "balancer/respond.hpp"

namespace balancer {

namespace {
// "Bearer TOKEN", compared in time that depends on the lengths only, never on where the
// first difference is.
bool token_matches(std::string_view header, std::string_view token) {
    constexpr std::string_view scheme = "Bearer ";
    unsigned char difference = header.size() == scheme.size() + token.size() ? 0 : 1;
    for (std::size_t i = 0; i < scheme.size() + token.size(); ++i) {
        const char expected = i < scheme.size() ? scheme[i] : token[i - scheme.size()];
        const char given = i < header.size() ? header[i] : '\0';
        difference |= static_cast<unsigned char>(expected ^ given);
    }
    // Volatile: the compiler may not turn the loop back into an early exit.
    volatile unsigned char result = difference;
    return result == 0;
}
} // namespace

bool is_control_path(std::string_view path) {
    return path == "/rep" || path == "/add" || path == "/rm";
}

bool blank(std::string_view text) {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool admit_change(net::request_context& request, const balancer_config& config, bool is_add) {
    const http::request_head& head = request.head;
    const bool method_ok =
        is_add ? head.method == http::method::post
               : (head.method == http::method::delete_ || head.method == http::method::post);
    if (!method_ok) {
        static constexpr http::header_field allow_add[] = {{"Allow", "POST"}};
        static constexpr http::header_field allow_rm[] = {{"Allow", "DELETE, POST"}};
        respond_failure(request, 405, "<Error> Method not allowed",
                        is_add ? std::span<const http::header_field>{allow_add}
                               : std::span<const http::header_field>{allow_rm});
        return false;
    }
    if (!config.control_from.empty() &&
        std::none_of(
            config.control_from.begin(), config.control_from.end(),
            [&](const net::cidr& network) { return network.contains(request.client_ip); })) {
        respond_failure(request, 403,
                        "<Error> /add and /rm are not open to this address (see --control-from)");
        return false;
    }
    if (!config.admin_token.empty() &&
        !token_matches(head.headers.find("Authorization").value_or(""), config.admin_token)) {
        static constexpr http::header_field challenge[] = {{"WWW-Authenticate", "Bearer"}};
        respond_failure(request, 401, "<Error> Missing or wrong bearer token", challenge);
        return false;
    }
    return true;
}

} // namespace balancer
