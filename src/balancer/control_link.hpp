#pragma once
// control_link: what a worker asks of the control thread, and nothing more: probe a replica
// that just failed a request, and carry out /add and /rm. control_plane implements it; the
// proxy's unit tests fake it. Called on the worker's thread.

#include <string>

#include "runtime/task.hpp"
#include "json/control_payload.hpp"

namespace balancer {

struct api_answer {
    int status = 200;
    std::string body; // JSON
};

class control_link {
public:
    virtual ~control_link() = default;
    // A connect error or reset from `name`: the control thread probes it now. Returns at
    // once (the report is a message).
    virtual void report_suspect(std::string name) = 0;
    // /add (add) or /rm, carried out on the control thread; completes with its answer.
    virtual runtime::task<api_answer> change(bool add, json::control_payload_result payload,
                                             bool body_empty) = 0;
};

} // namespace balancer
