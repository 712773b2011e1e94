#pragma once
// docker_api: the few Docker Engine API calls lbd needs, over the daemon's Unix socket
// with the project's own HTTP client (Content-Length and chunked answers alike), on the
// control thread. Paths are versioned (/v1.41/...); the version is checked once with
// GET /version. Works against Podman's compatible service too. Every call returns the
// daemon's answer or a docker_error that says what went wrong in words for the user.

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include "net/endpoint.hpp"
#include "runtime/task.hpp"

namespace orchestrator {

struct docker_error {
    int status = 0;         // the daemon's HTTP status, or 0 when it could not be reached
    std::string message;    // for logs and for /add's answer
    bool timed_out = false; // no answer in time: the daemon may have done it all the same
};

template <typename T> using docker_result = std::expected<T, docker_error>;

struct container_spec {
    std::string name; // container name, hostname and network alias
    std::string image;
    std::string network;
    std::vector<std::string> environment;
    std::map<std::string, std::string> labels;
    // Docker takes a replica's seccomp profile as JSON text, Podman as the path of a file
    // on its own host; the one the engine takes is sent. Empty: the engine's default.
    std::string seccomp_profile;
    std::string seccomp_path;
};

struct container_info {
    std::string id;
    std::string name;
    std::map<std::string, std::string> labels;
    bool running = false;
    std::string address; // IP on the requested network, "" if none
};

class docker_api {
public:
    static constexpr std::chrono::milliseconds default_timeout{30'000};

    // `timeout` bounds each call (connect, send, answer).
    explicit docker_api(net::endpoint socket, std::chrono::milliseconds timeout = default_timeout)
        : socket_(std::move(socket)), timeout_(timeout) {}

    // GET /version: checks that the daemon speaks API 1.41 or later.
    runtime::task<docker_result<std::string>> connect();
    // Creates the network unless it exists: a bridge, or with `overlay` an attachable
    // overlay network of the swarm (on a manager).
    runtime::task<docker_result<void>>
    ensure_network(const std::string& name, const std::map<std::string, std::string>& labels,
                   bool overlay = false);
    // Creates (409 name conflict, 404 image missing) and returns the container id.
    runtime::task<docker_result<std::string>> create(const container_spec& spec);
    runtime::task<docker_result<void>> start(const std::string& id);
    runtime::task<docker_result<container_info>> inspect(const std::string& id,
                                                         const std::string& network);
    runtime::task<docker_result<void>> stop(const std::string& id, std::chrono::seconds grace);
    runtime::task<docker_result<void>> remove(const std::string& id);
    // Containers (running or not) that carry every label in `labels` (key=value).
    runtime::task<docker_result<std::vector<container_info>>>
    list(const std::vector<std::string>& labels, const std::string& network);

    // Follows GET /events for objects of `type` ("container", "service") with `labels`
    // (service events carry none: pass none), from `since` (the daemon's
    // "seconds.nanoseconds"; empty: from now); calls on_event(action, container id,
    // attributes, the event's time as "seconds.nanoseconds") per event until the stream
    // ends or fails (then returns the error), or until *stop is set. `stream_fd` receives
    // the connection's fd while it is open, so that the caller can shut it down.
    using event_handler = std::function<void(const std::string& action, const std::string& id,
                                             const std::map<std::string, std::string>& attributes,
                                             const std::string& time)>;
    runtime::task<docker_error> follow_events(const std::string& type,
                                              const std::vector<std::string>& labels,
                                              const std::string& since, event_handler on_event,
                                              int* stream_fd, const bool* stop);

    const std::string& version_prefix() const noexcept { return prefix_; }
    // True when connect() found Podman's compatible service rather than Docker.
    bool podman() const noexcept { return podman_; }

    // The daemon's major.minor API version found by connect(), e.g. {1, 41}.
    std::pair<int, int> api_version() const noexcept { return version_; }

    struct answer {
        int status = 0;
        std::string body;
    };
    // One call: `target` after the version prefix (or after `prefix` when given, for a
    // field a later API version added). Status 0: no answer within the timeout.
    runtime::task<docker_result<answer>> call(std::string_view method, std::string target,
                                              std::string_view body = {},
                                              std::string_view prefix = {});

private:
    net::endpoint socket_;
    std::chrono::milliseconds timeout_;
    std::pair<int, int> version_{1, 41};
    std::string prefix_ = "/v1.41";
    bool podman_ = false;
};

// Percent-encodes a query parameter value (filters are JSON).
std::string url_encode(std::string_view text);
// The daemon's {"message": "..."} on errors, else the body itself, shortened.
std::string daemon_message(const std::string& body);
// The error for an answer whose status is not one of `expected` (or that never came).
std::optional<docker_error> unexpected_answer(const docker_result<docker_api::answer>& got,
                                              std::initializer_list<int> expected);
// A filters= parameter: {"label": [labels...]} plus the given extra key and values.
std::string filters_json(const std::vector<std::string>& labels, std::string_view key = {},
                         const std::vector<std::string>& values = {});
// Reads a JSON object of strings (labels, attributes) into `out`; absent or null: nothing.
void read_string_map(simdjson::simdjson_result<simdjson::dom::element> object,
                     std::map<std::string, std::string>& out);

} // namespace orchestrator
