#pragma once
// resolve: "HOST:PORT" to an endpoint without blocking the calling reactor. Numeric
// addresses are parsed at once; a name is looked up (getaddrinfo) on a short-lived helper
// thread while the caller's coroutine waits, at most `timeout`. A lookup that outlives its
// timeout finishes on its own thread and its answer is dropped. One thread per name
// lookup: for the control path (a static /add), never per request.

#include <chrono>
#include <expected>
#include <string>

#include "net/endpoint.hpp"
#include "runtime/task.hpp"

namespace net {

runtime::task<std::expected<endpoint, std::string>> resolve(std::string text,
                                                            std::chrono::milliseconds timeout);

} // namespace net
