#pragma once
// The dashboard page (src/balancer/dashboard/dashboard.html: HTML, CSS and JavaScript in
// one file), compiled into lbd at build time and served at GET / on the admin listener.

#include <string_view>

namespace balancer {

std::string_view dashboard_page();

} // namespace balancer
