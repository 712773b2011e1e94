#include "balancer/control_plane.hpp"

#include <algorithm>

#include "balancer/admin_handler.hpp"
#include "balancer/balancer_handler.hpp"
#include "balancer/log.hpp"
#include "net/http_client.hpp"
#include "net/listener.hpp"
#include "runtime/io.hpp"
#include "runtime/remote_call.hpp"
#include "runtime/startup_error.hpp"
#include "json/json_writer.hpp"

namespace balancer {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {
std::string failure_body(std::string_view message) {
    std::string body;
    json::append_status_message(body, message, false);
    return body;
}
} // namespace

control_plane::control_plane(const balancer_config& config,
                             std::unique_ptr<orchestrator::orchestrator> backend)
    : config_(config), backend_(std::move(backend)) {
    auto empty = hashing::ring_snapshot::build({}, config_.ring);
    current_ = std::make_shared<routing_table>(routing_table{*empty, {}, {}, 0});
}

control_plane::~control_plane() {
    stop();
    join();
}

void control_plane::start() {
    std::promise<void> started;
    auto ready = started.get_future();
    // NOTE: this thread lives until lbd exits: replicas get PR_SET_PDEATHSIG from it.
    thread_ = std::thread([this, &started] {
        try {
            runtime::reactor loop;
            reactor_ = &loop;
            loop.block_on(run(&started));
            reactor_ = nullptr;
        } catch (...) {
            try {
                started.set_exception(std::current_exception());
            } catch (const std::future_error&) {
                // already announced: the exception came later, at shutdown
            }
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
        background_.spawn(publish());
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
        done.set_value();
    });
    finished.wait();
}

void control_plane::stop() {
    if (reactor_ != nullptr && thread_.joinable()) {
        reactor_->post([this] { stopping_ = true; });
    }
}

void control_plane::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

runtime::task<void> control_plane::run(std::promise<void>* started) {
    backend_->on_exit([this](const std::string& name, const std::string& reason) {
        on_replica_exit(name, reason);
    });
    if (!co_await start_initial()) {
        co_await backend_->remove_all(1s);
        throw runtime::startup_error(startup_error_);
    }
    if (config_.admin_enabled) {
        auto listener = net::listen_on(config_.admin_listen, {.reuse_port = false});
        if (!listener) {
            co_await backend_->remove_all(1s);
            throw runtime::startup_error("admin listener: " + listener.error());
        }
        admin_listener_ = std::move(*listener);
        if (auto bound = net::endpoint::of_socket(admin_listener_.get())) {
            log_event("info", "admin_listening", {{"address", bound->to_string()}});
        }
        admin_handler_ = std::make_unique<admin_handler>(*this);
        admin_server_ = std::make_unique<net::http_server>(*admin_handler_, net::server_limits{});
        background_.spawn(serve_admin(admin_listener_.get()));
    }
    co_await publish();
    started->set_value();
    co_await health_loop();
    if (admin_server_) {
        admin_server_->stop();
    }

    // Shutdown: workers are gone; stop every replica and drain our own work.
    co_await calls_.join();
    co_await background_.join();
    log_event("info", "stopping_replicas", {{"count", std::to_string(replicas_.size())}});
    co_await backend_->remove_all(stop_grace);
}

runtime::task<void> control_plane::serve_admin(int listen_fd) {
    co_await admin_server_->serve(listen_fd);
}

runtime::task<bool> control_plane::start_initial() {
    std::vector<std::pair<std::string, std::uint64_t>> names;
    if (config_.backend == backend_kind::static_list) {
        for (std::size_t i = 0; i < config_.upstreams.size(); ++i) {
            names.emplace_back(config_.upstreams[i], i + 1);
        }
    } else {
        for (std::size_t i = 1; i <= config_.replicas; ++i) {
            names.emplace_back("Server" + std::to_string(i), i);
        }
    }
    // Replicas left running by an earlier lbd are taken back, with their names and ids.
    for (const auto& adopted : co_await backend_->adopt()) {
        auto same = std::find_if(names.begin(), names.end(),
                                 [&](const auto& entry) { return entry.first == adopted.name; });
        if (same != names.end()) {
            same->second = adopted.id;
        } else {
            names.emplace_back(adopted.name, adopted.id);
        }
        log_event("info", "replica_adopted", {{"name", adopted.name}});
    }
    for (const auto& [name, id] : names) {
        replica_record record;
        record.name = name;
        record.id = id;
        auto spawned = co_await backend_->spawn(record.name, record.id);
        if (!spawned) {
            std::string_view reason = spawned.error().message;
            if (reason.starts_with("<Error> ")) {
                reason.remove_prefix(8); // the API's prefix; this goes to a terminal
            }
            startup_error_ = "cannot start replica " + record.name + ": " + std::string(reason);
            co_return false;
        }
        record.address = *spawned;
        record.has_address = true;
        replicas_.push_back(std::move(record));
    }
    for (auto& record : replicas_) {
        const bool healthy = co_await wait_healthy(record.address, config_.startup_timeout);
        if (healthy) {
            record.state = health::up;
            log_event("info", "replica_up",
                      {{"name", record.name}, {"address", record.address.to_string()}});
        } else if (config_.backend == backend_kind::static_list) {
            // A static upstream may come later: it joins when its heartbeat passes.
            log_event("warn", "replica_down", {{"name", record.name}, {"reason", "no_heartbeat"}});
            record.state = health::down;
        } else {
            startup_error_ = "replica " + record.name + " did not answer GET /heartbeat within " +
                             std::to_string(config_.startup_timeout.count()) + " ms";
            co_return false;
        }
    }
    co_return true;
}

runtime::task<void> control_plane::publish() {
    hashing::membership members;
    std::vector<upstream_target> targets;
    for (const auto& record : replicas_) {
        if (record.state == health::up && record.has_address) {
            members.push_back({record.name, record.id});
            targets.push_back({record.name, record.address, record.address.to_string()});
        }
    }
    auto ring = hashing::ring_snapshot::build(std::move(members), config_.ring, ++generation_);
    if (!ring) {
        log_event("error", "ring_build_failed", {{"error", ring.error().message}});
        co_return;
    }
    // The ring may order replicas its own way: align the targets with it.
    std::vector<upstream_target> aligned;
    for (const auto& replica : (*ring)->replicas()) {
        auto found = std::find_if(targets.begin(), targets.end(),
                                  [&](const upstream_target& t) { return t.name == replica.name; });
        aligned.push_back(*found);
    }
    auto table = std::make_shared<const routing_table>(
        routing_table{*ring, std::move(aligned), managed_names(), generation_});
    {
        std::lock_guard lock(current_mutex_);
        current_ = table;
    }
    ++counters_.ring_changes;

    // Send to every worker; each swaps its own pointer and acknowledges by message. The
    // count is shared, not in this frame: a late acknowledgement must find it alive.
    auto pending = std::make_shared<std::size_t>(0);
    runtime::reactor* home = reactor_;
    for (auto& worker : workers_) {
        const bool sent = worker.post([handler = worker.handler, table, home, pending] {
            handler->adopt(table);
            home->post([pending] { --*pending; });
        });
        if (sent) {
            ++*pending; // a worker that is gone routes nothing: no acknowledgement to wait for
        }
    }
    // Bounded all the same: a worker that stops after taking the message never answers.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (*pending > 0 && std::chrono::steady_clock::now() < deadline) {
        co_await runtime::sleep_for(1ms);
    }
}

runtime::task<api_answer> control_plane::add(json::control_payload_result payload,
                                             bool body_empty) {
    if (changing_) {
        co_return api_answer{409, failure_body("<Error> Another /add or /rm is in progress")};
    }
    const std::vector<std::string> names = managed_names();
    naming_rules rules{.host_port = config_.backend == backend_kind::static_list,
                       .max_replicas = config_.max_replicas};
    auto planned = plan_add(payload, body_empty, names, rules,
                            [](std::uint64_t k) { return "Server" + std::to_string(k); });
    if (auto* failed = std::get_if<api_error>(&planned)) {
        co_return api_answer{failed->status, failure_body(failed->message)};
    }
    changing_ = true;
    const add_plan plan = std::get<add_plan>(std::move(planned));
    std::vector<replica_record> added;
    std::uint64_t id = next_id();
    std::string failure;
    int failure_status = 500;
    for (const auto& name : plan.names) {
        starting_[name] = false;
    }
    for (const auto& name : plan.names) {
        replica_record record;
        record.name = name;
        record.id = id++;
        auto spawned = co_await backend_->spawn(name, record.id);
        if (!spawned) {
            failure = spawned.error().message;
            failure_status = spawned.error().http_status;
            if (!failure.starts_with("<Error>")) {
                failure = "<Error> Failed to start replica '" + name + "': " + failure;
            }
            break;
        }
        record.address = *spawned;
        record.has_address = true;
        added.push_back(std::move(record));
    }
    if (failure.empty() && backend_->spawns()) {
        for (auto& record : added) {
            if (!co_await wait_healthy(record.address, config_.startup_timeout, record.name)) {
                failure = starting_[record.name]
                              ? "<Error> Replica '" + record.name + "' exited while starting"
                              : "<Error> Replica '" + record.name + "' did not become healthy";
                break;
            }
            record.state = health::up;
        }
    } else if (failure.empty()) {
        for (auto& record : added) {
            record.state = co_await heartbeat(record.address) ? health::up : health::down;
        }
    }
    if (!failure.empty()) {
        // All or nothing: whatever this call started goes away again.
        for (const auto& record : added) {
            co_await backend_->remove(record.name, 1s);
        }
        for (const auto& name : plan.names) {
            starting_.erase(name);
        }
        changing_ = false;
        log_event("error", "add_failed", {{"error", failure}});
        co_return api_answer{failure_status, failure_body(failure)};
    }
    for (const auto& name : plan.names) {
        starting_.erase(name);
    }
    for (auto& record : added) {
        log_event("info", "replica_added",
                  {{"name", record.name}, {"address", record.address.to_string()}});
        replicas_.push_back(std::move(record));
    }
    co_await publish();
    changing_ = false;
    co_return api_answer{200, render_replicas(managed_names())};
}

runtime::task<api_answer> control_plane::remove(json::control_payload_result payload,
                                                bool body_empty) {
    if (changing_) {
        co_return api_answer{409, failure_body("<Error> Another /add or /rm is in progress")};
    }
    const std::vector<std::string> names = managed_names();
    auto planned = plan_remove(payload, body_empty, names, [this](std::size_t count) {
        return std::uniform_int_distribution<std::size_t>(0, count - 1)(random_);
    });
    if (auto* failed = std::get_if<api_error>(&planned)) {
        co_return api_answer{failed->status, failure_body(failed->message)};
    }
    changing_ = true;
    const remove_plan plan = std::get<remove_plan>(std::move(planned));
    std::erase_if(replicas_, [&plan](const replica_record& record) {
        return std::find(plan.names.begin(), plan.names.end(), record.name) != plan.names.end();
    });
    // Routing first: once this answers, no new request reaches a removed replica. The
    // processes stop afterwards, letting requests in flight finish.
    co_await publish();
    for (const auto& name : plan.names) {
        log_event("info", "replica_removed", {{"name", name}});
        background_.spawn(backend_->remove(name, stop_grace));
    }
    changing_ = false;
    co_return api_answer{200, render_replicas(managed_names())};
}

control_plane::replica_record* control_plane::find(std::string_view name) {
    auto found = std::find_if(replicas_.begin(), replicas_.end(),
                              [name](const replica_record& r) { return r.name == name; });
    return found == replicas_.end() ? nullptr : &*found;
}

std::vector<std::string> control_plane::managed_names() const {
    std::vector<std::string> names;
    for (const auto& record : replicas_) {
        names.push_back(record.name);
    }
    return names;
}

std::uint64_t control_plane::next_id() const {
    std::uint64_t highest = 0;
    for (const auto& record : replicas_) {
        highest = std::max(highest, record.id);
    }
    return highest + 1;
}

} // namespace balancer
