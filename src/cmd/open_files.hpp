#pragma once
// The process's file descriptor budget: the mains raise the soft RLIMIT_NOFILE to the hard
// limit at start-up (as HAProxy does; the soft default of 1024 would cap a balancer at a
// few hundred clients), and size their connection limits from the result. Start-up only.

#include <cstddef>

#include <sys/resource.h>

namespace cmd {

// Raises the soft limit to the hard one where it can; returns the soft limit in force.
inline std::size_t raise_open_files_limit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                           : static_cast<std::size_t>(limit.rlim_cur);
}

} // namespace cmd
