#pragma once
// Who may change the membership: the checks a /add or /rm request passes before its
// payload is read, the same on port 5000 (balancer_handler) and on the admin listener (the
// dashboard's forms, admin_handler).

#include <string_view>

#include "balancer/config.hpp"
#include "net/http_server.hpp"

namespace balancer {

// /rep, /add and /rm.
bool is_control_path(std::string_view path);

// Nothing but blanks (an /add without a body adds one replica).
bool blank(std::string_view text);

// True when the /add (`is_add`) or /rm request may go on. Otherwise its answer is in
// request.out: 405 for a wrong method, 403 for a client outside --control-from, 401 for a
// missing or wrong bearer token (compared in constant time).
bool admit_change(net::request_context& request, const balancer_config& config, bool is_add);

} // namespace balancer
