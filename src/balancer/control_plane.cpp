// The control thread and the driver of the replicas' lifecycle: the replica_set decides,
// this file carries out its commands (spawn, probe, stop) and feeds back their outcome.
// The control API is in control_changes.cpp, publication in control_publish.cpp.

#include "balancer/control_plane.hpp"

#include <algorithm>

#include "balancer/admin_handler.hpp"
#include "balancer/log.hpp"
#include "net/http_client.hpp"
#include "net/listener.hpp"
#include "runtime/remote_call.hpp"
#include "runtime/startup_error.hpp"

namespace balancer {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {
lifecycle_options lifecycle_of(const balancer_config& config, bool spawns) {
    lifecycle_options options;
    options.spawns = spawns;
    options.fall = config.fall;
    options.heartbeat = config.heartbeat;
    options.startup_timeout = config.startup_timeout;
    options.new_name_on_respawn = config.respawn_new_name;
    return options;
}

// The API's prefix of a Docker error; a start-up error goes to a terminal.
std::string without_prefix(std::string message) {
    if (message.starts_with("<Error> ")) {
        message.erase(0, 8);
    }
    return message;
}
} // namespace

control_plane::control_plane(const balancer_config& config,
                             std::unique_ptr<orchestrator::orchestrator> backend)
    : config_(config), backend_(std::move(backend)),
      set_(lifecycle_of(config_, backend_->spawns())) {
    auto empty = hashing::ring_snapshot::build({}, config_.ring);
    current_ = std::make_shared<routing_table>(routing_table{*empty, {}, {}, false, {}, 0});
}

control_plane::~control_plane() {
    stop();
    join();
}

void control_plane::start() {
    auto ready = started_.get_future();
    // NOTE: this thread lives until lbd exits: replicas get PR_SET_PDEATHSIG from it.
    thread_ = std::thread([this] {
        try {
            runtime::reactor loop;
            reactor_ = &loop;
            loop.block_on(run());
            reactor_ = nullptr;
        } catch (...) {
            reactor_ = nullptr;
            if (!announced_) {
                started_.set_exception(std::current_exception());
            }
            // else: an error at shutdown, after start() returned; nothing waits for it.
        }
    });
    try {
        ready.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

std::shared_ptr<const routing_table> control_plane::current() const {
    std::lock_guard lock(current_mutex_);
    return current_;
}

void control_plane::attach(std::vector<worker_link> workers) {
    reactor_->post([this, links = std::move(workers)]() mutable {
        workers_ = std::move(links);
        publish_needed(); // the table of the moment, in case it changed since they were made
    });
}

void control_plane::detach() {
    if (reactor_ == nullptr || !thread_.joinable()) {
        return;
    }
    std::promise<void> done;
    auto finished = done.get_future();
    reactor_->post([this, &done] {
        workers_.clear();
        // lbd is shutting down: an /add or /rm in progress ends now (503, rolled back), so
        // that the worker waiting for its answer can drain; no new one starts.
        changes_closed_ = true;
        progress_.ring();
        done.set_value();
    });
    finished.wait();
}

void control_plane::stop() {
    if (reactor_ != nullptr && thread_.joinable()) {
        reactor_->post([this] {
            stopping_ = true;
            stop_.ring();
            timer_.ring();
            progress_.ring();
            publisher_wake_.ring();
        });
    }
}

void control_plane::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

runtime::task<void> control_plane::run() {
    backend_->on_exit([this](const std::string& name, const std::string& reason) {
        on_replica_exit(name, reason);
    });
    backend_->on_membership([this](const std::vector<orchestrator::adopted_replica>& appeared,
                                   const std::vector<std::string>& vanished) {
        return on_membership(appeared, vanished);
    });
    background_.spawn(timer_loop());
    background_.spawn(publisher());
    std::optional<std::string> failure = co_await start_initial();
    if (!failure && config_.admin_enabled) {
        auto listener = net::listen_on(config_.admin_listen, {.reuse_port = false});
        if (listener) {
            admin_listener_ = std::move(*listener);
            if (auto bound = net::endpoint::of_socket(admin_listener_.get())) {
                log_event("info", "admin_listening", {{"address", bound->to_string()}});
            }
            admin_handler_ = std::make_unique<admin_handler>(*this);
            admin_server_ =
                std::make_unique<net::http_server>(*admin_handler_, net::server_limits{});
            background_.spawn(serve_admin(admin_listener_.get()));
        } else {
            failure = "admin listener: " + listener.error();
        }
    }
    if (!failure) {
        co_await published(publish_needed());
        announced_ = true;
        started_.set_value();
        while (!stopping_) {
            co_await stop_.wait(std::chrono::hours{24});
        }
    }

    // Shutdown: workers are gone (or never came); stop every replica, drain our own work.
    stopping_ = true;
    backend_->begin_shutdown();
    timer_.ring();
    progress_.ring();
    publisher_wake_.ring();
    if (admin_server_) {
        admin_server_->stop();
    }
    co_await calls_.join();
    co_await background_.join();
    co_await finish_cut_short_changes(failure ? 1s : stop_grace);
    log_event("info", "stopping_replicas", {{"count", std::to_string(set_.records().size())}});
    co_await backend_->remove_all(failure ? 1s : stop_grace);
    if (failure) {
        throw runtime::startup_error(*failure);
    }
}

runtime::task<void> control_plane::serve_admin(int listen_fd) {
    co_await admin_server_->serve(listen_fd);
}

runtime::task<std::optional<std::string>> control_plane::start_initial() {
    struct initial {
        std::string name;
        std::uint64_t id;
        std::uint32_t weight;
    };
    std::vector<initial> members;
    const auto weight_of = [this](std::size_t index) {
        return index < config_.weights.size() ? config_.weights[index] : 1U;
    };
    if (config_.backend == backend_kind::static_list) {
        // Ids by name, not by the order given: every lbd given the same upstreams builds
        // the same ring.
        std::vector<std::string> sorted = config_.upstreams;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < config_.upstreams.size(); ++i) {
            const auto rank = std::lower_bound(sorted.begin(), sorted.end(), config_.upstreams[i]);
            members.push_back({config_.upstreams[i],
                               static_cast<std::uint64_t>(rank - sorted.begin()) + 1,
                               weight_of(i)});
        }
    } else {
        for (std::size_t i = 0; i < config_.replicas; ++i) {
            members.push_back({"Server" + std::to_string(i + 1), i + 1, weight_of(i)});
        }
    }
    // Replicas left running by an earlier lbd are taken back, with their names and ids.
    for (const auto& adopted : co_await backend_->adopt()) {
        auto same = std::find_if(members.begin(), members.end(),
                                 [&](const initial& entry) { return entry.name == adopted.name; });
        // The weight too when the backend records it: balancers that share replicas must
        // agree even when started with different --replica-weights.
        if (same != members.end()) {
            same->id = adopted.id;
            same->weight = adopted.weight != 0 ? adopted.weight : same->weight;
        } else {
            members.push_back({adopted.name, adopted.id, std::max(adopted.weight, 1U)});
        }
        log_event("info", "replica_adopted", {{"name", adopted.name}});
    }
    for (const initial& member : members) {
        set_.add_member(member.name, member.id, member.weight, now());
    }
    pump();
    // Spawning backends: every replica must pass a heartbeat, or lbd does not start. Static
    // upstreams may come later: lbd waits for them up to the start-up timeout, no longer.
    const auto deadline = now() + config_.startup_timeout;
    while (!stopping_) {
        bool waiting = false;
        for (const initial& member : members) {
            const replica_record* record = set_.find(member.name);
            if (auto failed = initial_failure(*record)) {
                co_return failed;
            }
            waiting = waiting || (record->state != replica_state::up);
        }
        if (!waiting || (!backend_->spawns() && now() >= deadline)) {
            break;
        }
        co_await progress_.wait(backend_->spawns() ? 24h : deadline - now());
    }
    for (const initial& member : members) {
        if (set_.find(member.name)->state != replica_state::up) {
            log_event("warn", "replica_down", {{"name", member.name}, {"reason", "no_heartbeat"}});
        }
    }
    co_return std::nullopt;
}

std::optional<std::string> control_plane::initial_failure(const replica_record& record) const {
    if (!backend_->spawns()) {
        return std::nullopt;
    }
    if (record.spawn_failures > 0) {
        return "cannot start replica " + record.name + ": " + without_prefix(record.last_failure);
    }
    if (record.state == replica_state::respawning || record.respawns > 0) {
        // It died or never answered: starting it again would only hide the problem.
        if (record.last_failure.starts_with("no heartbeat")) {
            return "replica " + record.name + " did not answer GET /heartbeat within " +
                   std::to_string(config_.startup_timeout.count()) + " ms";
        }
        return "replica " + record.name + " failed while starting: " + record.last_failure;
    }
    return std::nullopt;
}

void control_plane::log_lifecycle() {
    // The deque keeps the latest 100: more than that between two pumps is not expected,
    // and what fell out is only not logged.
    const auto& events = set_.events();
    const std::uint64_t fresh =
        std::min<std::uint64_t>(set_.events_recorded() - events_logged_, events.size());
    events_logged_ = set_.events_recorded();
    for (std::size_t i = events.size() - fresh; i < events.size(); ++i) {
        const lifecycle_event& event = events[i];
        const bool bad = event.what == "down" || event.what == "suspect";
        const char* detail = event.what == "down" || event.what == "suspect" ? "reason"
                             : event.what == "replaced"                      ? "by"
                                                                             : "address";
        log_event(bad ? "warn" : "info", "replica_" + event.what,
                  {{"name", event.name}, {detail, event.detail}});
    }
}

void control_plane::pump() {
    log_lifecycle();
    if (!stopping_) {
        for (replica_command& command : set_.take_commands()) {
            // Later, not now: pump() runs inside the handlers of other events.
            switch (command.what) {
            case replica_command::kind::spawn:
                background_.spawn_scheduled(run_spawn(std::move(command)));
                break;
            case replica_command::kind::probe:
                background_.spawn_scheduled(run_probe(std::move(command)));
                break;
            case replica_command::kind::stop:
                background_.spawn_scheduled(run_stop(std::move(command)));
                break;
            }
        }
    } else {
        // Shutting down: remove_all() stops whatever runs; nothing new starts.
        set_.take_commands();
    }
    if (set_.membership_version() != requested_membership_ ||
        set_.health_version() != requested_health_) {
        requested_membership_ = set_.membership_version();
        requested_health_ = set_.health_version();
        publish_needed();
    }
    if (armed_until_) {
        if (auto due = set_.next_due(); due && *due < *armed_until_) {
            timer_.ring();
        }
    }
    progress_.ring();
}

runtime::task<void> control_plane::run_spawn(replica_command command) {
    orchestrator::spawn_request request{.name = command.name, .id = command.id};
    if (const replica_record* record = set_.find(command.name)) {
        request.weight = record->weight;
        if (record->state == replica_state::joining) {
            request.kind = orchestrator::spawn_kind::fresh;
        }
    }
    auto spawned = co_await backend_->spawn(std::move(request));
    if (spawned) {
        log_event("info", "replica_started",
                  {{"name", command.name}, {"address", spawned->to_string()}});
        set_.spawned(command.name, command.incarnation, *spawned, now());
    } else {
        log_event("error", "replica_start_failed",
                  {{"name", command.name}, {"error", spawned.error().message}});
        spawn_status_[command.name] = spawned.error().http_status;
        if (const replica_record* record = set_.find(command.name);
            record == nullptr || record->state == replica_state::removing) {
            // Removed while it was being started: whatever the backend holds of it goes
            // (a shared backend's service outlives a failed spawn), before the record does,
            // so that the name is not free again while the engine still holds it.
            co_await backend_->remove(command.name, 0ms);
        }
        set_.spawn_failed(command.name, command.incarnation, spawned.error().message, now());
    }
    pump();
}

runtime::task<void> control_plane::run_probe(replica_command command) {
    const bool passed = co_await heartbeat(command.address);
    set_.probed(command.name, command.incarnation, passed, now());
    pump();
}

runtime::task<void> control_plane::run_stop(replica_command command) {
    if (command.respawn) {
        co_await backend_->clear_for_respawn(command.name);
    } else {
        co_await backend_->remove(command.name, command.graceful ? stop_grace : 0ms);
    }
    set_.stopped(command.name, command.incarnation, now());
    pump();
}

runtime::task<bool> control_plane::heartbeat(const net::endpoint& address) {
    const milliseconds timeout = std::min<milliseconds>(config_.heartbeat, 1s);
    auto answer = co_await net::fetch(address, {.target = "/heartbeat"}, timeout, 4096);
    co_return answer && answer->status == 200;
}

runtime::task<void> control_plane::timer_loop() {
    while (!stopping_) {
        const auto due = set_.next_due();
        const auto start = now();
        const auto wait = due ? std::max(*due - start, replica_set::clock::duration{0})
                              : replica_set::clock::duration{std::chrono::hours{1}};
        armed_until_ = start + wait;
        co_await timer_.wait(wait);
        armed_until_.reset();
        if (stopping_) {
            break;
        }
        set_.tick(now());
        pump();
    }
}

void control_plane::on_replica_exit(const std::string& name, const std::string& reason) {
    if (stopping_) {
        return;
    }
    log_event("warn", "replica_exited", {{"name", name}, {"reason", reason}});
    set_.exited(name, reason, now());
    pump();
}

void control_plane::report_suspect(std::string name) {
    reactor_->post([this, name = std::move(name)] {
        set_.suspect(name, now());
        pump();
    });
}

runtime::task<api_answer> control_plane::change(bool add, json::control_payload_result payload,
                                                bool body_empty) {
    runtime::remote_call<api_answer> call{
        *reactor_, calls_, [this, add, payload = std::move(payload), body_empty]() mutable {
            return add ? this->add(std::move(payload), body_empty)
                       : this->remove(std::move(payload), body_empty);
        }};
    co_return co_await call;
}

} // namespace balancer
