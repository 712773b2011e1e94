#pragma once
// One logfmt line per event on stderr: ts=2026-11-25T11:04:12.345Z level=info
// event=replica_down name=Server2 reason=exited. Values with spaces or quotes are quoted.
// Any thread (one write(2) per line, so lines never interleave).

#include <initializer_list>
#include <string_view>
#include <utility>

namespace balancer {

using log_field = std::pair<std::string_view, std::string_view>;

void log_event(std::string_view level, std::string_view event,
               std::initializer_list<log_field> fields = {});

} // namespace balancer
