#include "orchestrator/swarm_orchestrator.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include <sys/socket.h>

#include "orchestrator/engine_labels.hpp"

namespace orchestrator {

using namespace std::chrono_literals;

namespace {
spawn_failure failure_of(const docker_error& error) {
    return engine_failure(error, "Docker Swarm");
}

// 64 random bits in hex: the lbd.spawn label of one service create (control thread only).
std::string spawn_nonce() {
    static std::mt19937_64 random{std::random_device{}()};
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random()));
    return text;
}

std::string label_or(const swarm_service& service, const char* key, std::string fallback = {}) {
    const auto found = service.labels.find(key);
    return found == service.labels.end() ? fallback : found->second;
}

std::uint64_t id_of(const swarm_service& service) {
    return std::strtoull(label_or(service, label_id, "0").c_str(), nullptr, 10);
}

adopted_replica replica_of(const swarm_service& service) {
    const auto weight = std::strtoul(label_or(service, label_weight, "1").c_str(), nullptr, 10);
    return {service.name, id_of(service),
            static_cast<std::uint32_t>(std::clamp<unsigned long>(weight, 1, 1000))};
}
} // namespace

std::vector<swarm_service> agreed_services(std::vector<swarm_service> services) {
    std::erase_if(services, [](const swarm_service& service) {
        return service.name.empty() || id_of(service) == 0 ||
               label_or(service, label_name) != service.name;
    });
    // First come, first kept: by id, then creation time, then name.
    std::sort(services.begin(), services.end(), [](const auto& a, const auto& b) {
        if (id_of(a) != id_of(b)) {
            return id_of(a) < id_of(b);
        }
        if (a.created_at != b.created_at) {
            return earlier(a.created_at, b.created_at);
        }
        return a.name < b.name;
    });
    services.erase(std::unique(services.begin(), services.end(),
                               [](const auto& a, const auto& b) { return id_of(a) == id_of(b); }),
                   services.end());
    std::sort(services.begin(), services.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return services;
}

swarm_orchestrator::swarm_orchestrator(swarm_options options)
    : options_(std::move(options)), engine_(options_.socket, options_.call_timeout),
      swarm_(engine_) {}

swarm_orchestrator::~swarm_orchestrator() = default;

std::vector<std::string> swarm_orchestrator::instance_filter() const {
    return instance_labels(options_.instance);
}

runtime::task<std::optional<docker_error>> swarm_orchestrator::ready() {
    if (connected_) {
        co_return std::nullopt;
    }
    auto version = co_await engine_.connect();
    if (!version) {
        co_return version.error();
    }
    if (engine_.podman()) {
        co_return docker_error{0, "Podman has no swarm mode: --backend swarm needs Docker"};
    }
    if (auto manager = co_await swarm_.check_manager(); !manager) {
        co_return manager.error();
    }
    const std::map<std::string, std::string> network_labels{{label_managed, "true"}};
    if (auto network = co_await engine_.ensure_network(options_.network, network_labels, true);
        !network) {
        co_return network.error();
    }
    connected_ = true;
    co_return std::nullopt;
}

void swarm_orchestrator::start_background() {
    if (!started_) {
        started_ = true;
        background_.spawn(poll_loop());
        background_.spawn(follow_events());
    }
}

runtime::task<std::vector<adopted_replica>> swarm_orchestrator::adopt() {
    std::vector<adopted_replica> found;
    if (auto failed = co_await ready()) {
        co_return found; // spawn() will report what is wrong
    }
    auto listed = co_await swarm_.services(instance_filter());
    if (listed) {
        for (swarm_service& service : agreed_services(std::move(*listed))) {
            found.push_back(replica_of(service));
            seen_[service.name] = std::move(service);
        }
    }
    // From here on the membership is reported as it changes, relative to what was adopted.
    start_background();
    co_return found;
}

runtime::task<std::expected<net::endpoint, spawn_failure>>
swarm_orchestrator::spawn(spawn_request request) {
    if (auto failed = co_await ready()) {
        co_return std::unexpected(failure_of(*failed));
    }
    start_background();
    if (auto known = tracked_.find(request.name); known != tracked_.end()) {
        const auto listed = seen_.find(request.name);
        const bool replaced =
            listed != seen_.end() && listed->second.id != known->second.service_id;
        if (request.kind == spawn_kind::member && !replaced) {
            // A respawn: Swarm restarts the task itself; wait for the one that runs now.
            co_return co_await await_task(request.name);
        }
        // Left over from a replica this balancer let go (an /add makes its own service; a
        // service of the name made anew elsewhere is taken below).
        tracked_.erase(known);
        ++changes_;
    }
    if (request.kind == spawn_kind::member) {
        // A member lbd takes as given: the service runs already if any balancer made it.
        if (auto found = seen_.find(request.name); found != seen_.end()) {
            tracked_[request.name] = tracked{found->second.id, {}, false};
            ++changes_;
            co_return co_await await_task(request.name);
        }
    }
    co_return co_await create(request);
}

runtime::task<std::expected<net::endpoint, spawn_failure>>
swarm_orchestrator::create(const spawn_request& request) {
    const std::string& name = request.name;
    service_spec spec{
        .name = name,
        .image = options_.image,
        .network = options_.network,
        .environment = {"SERVER_ID=" + server_id_of(name, request.id, options_.server_id)},
        .labels = {{label_managed, "true"},
                   {label_instance, options_.instance},
                   {label_name, name},
                   {label_id, std::to_string(request.id)},
                   {label_weight, std::to_string(request.weight)},
                   {label_spawn, spawn_nonce()}},
        .seccomp_profile = options_.seccomp_profile};
    auto created = co_await swarm_.create_service(spec);
    if (!created && created.error().timed_out) {
        if (auto made = co_await find_made(spec)) {
            created = std::move(*made);
        }
    }
    if (!created && created.error().status == 409 && request.kind == spawn_kind::member) {
        // Another balancer of this instance made it first (both started at once): take it.
        auto listed = co_await swarm_.services(instance_filter());
        if (listed) {
            for (const swarm_service& service : *listed) {
                if (service.name == name) {
                    tracked_[name] = tracked{service.id, {}, false};
                    ++changes_;
                    co_return co_await await_task(name);
                }
            }
        }
    }
    if (!created) {
        co_return std::unexpected(failure_of(created.error()));
    }
    // From here on a failure removes the service: nothing is left half-made.
    tracked_[name] = tracked{*created, {}, true};
    ++changes_;
    std::optional<spawn_failure> failure;
    if (request.kind == spawn_kind::fresh) {
        failure = co_await check_id_taken(request, *created);
    }
    if (!failure) {
        auto where = co_await await_task(name);
        if (where) {
            co_return *where;
        }
        failure = where.error();
    }
    if (auto found = tracked_.find(name); found != tracked_.end() && found->second.created) {
        tracked_.erase(found);
        ++changes_;
    }
    co_await delete_service(*created);
    co_return std::unexpected(*failure);
}

runtime::task<std::optional<std::string>> swarm_orchestrator::find_made(const service_spec& spec) {
    // The create got no answer in time (a manager in a leader election), yet may have been
    // made: the service that carries this very create's `lbd.spawn` label is this spawn's,
    // and goes on as if answered (also while stopping: then it is removed as a failed spawn),
    // so that a failed /add does not leave a service the next poll would make a member. Asked
    // again while the manager does not answer, until the start-up deadline; a manager that
    // answers without it means it was not made (one whose create commits later still
    // leaves it, as does a manager silent for longer).
    const std::string& nonce = spec.labels.at(label_spawn);
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    for (;;) {
        auto listed = co_await swarm_.services(instance_filter());
        if (listed) {
            for (const swarm_service& service : *listed) {
                if (label_or(service, label_spawn) == nonce) {
                    co_return service.id;
                }
            }
            co_return std::nullopt;
        }
        if (stopping_ || std::chrono::steady_clock::now() >= deadline) {
            co_return std::nullopt;
        }
        co_await runtime::sleep_for(options_.poll);
    }
}

runtime::task<std::optional<spawn_failure>>
swarm_orchestrator::check_id_taken(const spawn_request& request, const std::string& service_id) {
    // Named, not a temporary: g++ 12 mishandles a temporary in a co_await's call.
    std::vector<std::string> labels = instance_filter();
    labels.push_back(std::string(label_id) + "=" + std::to_string(request.id));
    auto listed = co_await swarm_.services(labels);
    if (!listed) {
        co_return failure_of(listed.error());
    }
    const std::vector<swarm_service> kept = agreed_services(*listed);
    if (!kept.empty() && kept.front().id != service_id) {
        co_return spawn_failure{409,
                                "<Error> Replica '" + kept.front().name + "' was added with id " +
                                    std::to_string(request.id) +
                                    " by another balancer at the same time; try the /add again"};
    }
    co_return std::nullopt;
}

runtime::task<std::expected<net::endpoint, spawn_failure>>
swarm_orchestrator::await_task(std::string name) {
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    std::string last = "no task yet";
    while (!stopping_) {
        auto found = tracked_.find(name);
        if (found == tracked_.end()) {
            co_return std::unexpected(
                spawn_failure{500, "<Error> replica '" + name + "' was removed while it started"});
        }
        const std::string service_id = found->second.service_id;
        const std::string suspect =
            std::chrono::steady_clock::now() - found->second.suspect_since < suspect_grace
                ? found->second.suspect_task
                : std::string{};
        const std::vector<std::string> ids{service_id};
        auto tasks = co_await swarm_.tasks(ids, options_.network);
        if (tasks) {
            const swarm_task* best = nullptr;
            for (const swarm_task& task : *tasks) {
                if (task.service_id != service_id || dead_tasks_.contains(task.id) ||
                    task.id == suspect) {
                    continue;
                }
                if (task.state == "running" && !task.address.empty() &&
                    (best == nullptr || earlier(best->created_at, task.created_at))) {
                    best = &task;
                }
                last = task.state + (task.error.empty() ? "" : ": " + task.error);
            }
            found = tracked_.find(name);
            if (best != nullptr && found != tracked_.end() &&
                found->second.service_id == service_id) {
                auto where = net::endpoint::parse(best->address + ":" +
                                                  std::to_string(options_.replica_port));
                if (!where) {
                    co_return std::unexpected(spawn_failure{500, "<Error> " + where.error()});
                }
                found->second.task_id = best->id;
                ++changes_;
                co_return *where;
            }
        } else {
            last = tasks.error().message;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return std::unexpected(spawn_failure{
                500, "<Error> no task of service '" + name + "' is running after " +
                         std::to_string(options_.start_timeout.count()) + " ms (" + last + ")"});
        }
        co_await runtime::sleep_for(options_.poll);
    }
    co_return std::unexpected(spawn_failure{503, "<Error> lbd is stopping"});
}

runtime::task<void> swarm_orchestrator::clear_for_respawn(std::string name) {
    // Swarm restarts the task itself; the service stays. The task that failed may still be
    // listed as running for a moment: the respawn looks for another first.
    if (auto found = tracked_.find(name);
        found != tracked_.end() && !found->second.task_id.empty()) {
        found->second.suspect_task = std::exchange(found->second.task_id, {});
        found->second.suspect_since = std::chrono::steady_clock::now();
        ++changes_;
    }
    co_return;
}

runtime::task<void> swarm_orchestrator::remove(std::string name, std::chrono::milliseconds) {
    auto found = tracked_.find(name);
    if (found == tracked_.end()) {
        co_return;
    }
    // By ID, not by name: the name may belong to a new service by now.
    const std::string service_id = found->second.service_id;
    tracked_.erase(found);
    ++changes_;
    // Swarm stops the task with its stop grace period (10 s): requests in flight finish.
    co_await delete_service(service_id);
}

void swarm_orchestrator::begin_shutdown() {
    stopping_ = true; // a spawn waiting for a task (await_task) gives up at its next look
    poll_wake_.ring();
}

runtime::task<void> swarm_orchestrator::remove_all(std::chrono::milliseconds) {
    // The services stay: other balancers route to them, and a restarted lbd adopts them.
    begin_shutdown();
    if (events_fd_ >= 0) {
        ::shutdown(events_fd_, SHUT_RDWR);
    }
    events_backoff_.cancel();
    co_await background_.join();
}

runtime::task<void> swarm_orchestrator::delete_service(std::string service_id) {
    if (auto removed = co_await swarm_.remove_service(service_id); !removed) {
        // A manager that does not answer (an election): tried again at every poll, or the
        // other balancers would keep a replica this one let go.
        undeleted_.insert(std::move(service_id));
    }
}

runtime::task<void> swarm_orchestrator::poll_loop() {
    while (!stopping_) {
        const std::vector<std::string> retried(undeleted_.begin(), undeleted_.end());
        for (const std::string& service_id : retried) {
            if (auto removed = co_await swarm_.remove_service(service_id); removed) {
                undeleted_.erase(service_id);
            }
        }
        const std::uint64_t before = changes_;
        auto listed = co_await swarm_.services(instance_filter());
        if (listed && !stopping_) {
            // Tasks only of the services that still exist: the engine refuses a filter that
            // names a removed one (and a removed service is for report() to let go).
            std::set<std::string> live;
            for (const swarm_service& service : *listed) {
                live.insert(service.id);
            }
            const std::vector<swarm_service> services = agreed_services(std::move(*listed));
            std::set<std::string> watched;
            for (const auto& [name, entry] : tracked_) {
                if (!entry.task_id.empty() && live.contains(entry.service_id)) {
                    watched.insert(entry.service_id);
                }
            }
            const std::vector<std::string> ids(watched.begin(), watched.end());
            auto tasks = co_await swarm_.tasks(ids, options_.network);
            // A spawn or remove of ours overlapping this poll makes its view stale: the next
            // poll decides.
            if (changes_ == before && !stopping_) {
                if (tasks) {
                    check_tasks(*tasks, watched);
                }
                report(services);
            }
        }
        // An event heard while this poll ran asks for the next at once.
        if (!stopping_ && !std::exchange(poll_soon_, false)) {
            co_await poll_wake_.wait(options_.poll);
            poll_soon_ = false;
        }
    }
}

void swarm_orchestrator::check_tasks(const std::vector<swarm_task>& tasks,
                                     const std::set<std::string>& watched) {
    std::vector<std::string> stopped;
    for (auto& [name, entry] : tracked_) {
        if (entry.task_id.empty() || !watched.contains(entry.service_id)) {
            continue;
        }
        const auto task = std::find_if(tasks.begin(), tasks.end(),
                                       [&](const swarm_task& t) { return t.id == entry.task_id; });
        if (task == tasks.end() || task->state != "running") {
            if (dead_tasks_.size() >= 4096) {
                dead_tasks_.clear(); // old ones are long out of every listing
            }
            dead_tasks_.insert(entry.task_id);
            entry.task_id.clear();
            stopped.push_back(name);
        }
    }
    for (const auto& name : stopped) {
        if (exit_handler_) {
            exit_handler_(name, "task_stopped");
        }
    }
}

void swarm_orchestrator::report(const std::vector<swarm_service>& services) {
    std::vector<adopted_replica> appeared;
    std::vector<std::string> vanished;
    std::map<std::string, swarm_service> now;
    for (const swarm_service& service : services) {
        const auto before = seen_.find(service.name);
        if (before == seen_.end() || before->second.id != service.id) {
            if (before != seen_.end()) {
                vanished.push_back(service.name); // the same name, a new service
            }
            appeared.push_back(replica_of(service));
        }
        now[service.name] = service;
    }
    for (const auto& [name, service] : seen_) {
        if (!now.contains(name)) {
            vanished.push_back(name);
        }
    }
    for (const auto& [name, entry] : tracked_) {
        // One of ours removed elsewhere before any poll had listed it (the polls overlapping
        // its own spawn do not report): seen_ never had it, and it would stay a member.
        if (!now.contains(name) && !seen_.contains(name)) {
            vanished.push_back(name);
        }
    }
    seen_ = std::move(now);
    if (membership_handler_ && (!appeared.empty() || !vanished.empty())) {
        for (const std::string& later : membership_handler_(appeared, vanished)) {
            seen_.erase(later);
        }
    }
}

runtime::task<void> swarm_orchestrator::follow_events() {
    std::chrono::milliseconds backoff = 100ms;
    while (!stopping_) {
        // Any service event (created, updated, removed, anywhere in the swarm) polls at once.
        // Named, not temporaries: g++ 12 mishandles braced temporaries in a co_await's call.
        const std::string type = "service";
        const std::vector<std::string> no_labels;
        const std::string from_now;
        docker_error ended = co_await engine_.follow_events(
            type, no_labels, from_now,
            [this](const std::string&, const std::string&,
                   const std::map<std::string, std::string>&, const std::string&) {
                poll_soon_ = true;
                poll_wake_.ring();
            },
            &events_fd_, &stopping_);
        if (stopping_) {
            break;
        }
        co_await runtime::sleep_for(backoff).with_cancel(&events_backoff_);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
        (void)ended;
    }
}

} // namespace orchestrator
