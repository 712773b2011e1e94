#include "orchestrator/docker_orchestrator.hpp"

#include <cstdlib>

#include <sys/socket.h>

#include "orchestrator/engine_labels.hpp"

namespace orchestrator {

using namespace std::chrono_literals;

namespace {
spawn_failure failure_of(const docker_error& error) {
    return engine_failure(error, "Docker");
}
} // namespace

docker_orchestrator::docker_orchestrator(docker_options options)
    : options_(std::move(options)), api_(options_.socket) {}

docker_orchestrator::~docker_orchestrator() = default;

std::map<std::string, std::string> docker_orchestrator::labels_for(const std::string& name,
                                                                   std::uint64_t id) const {
    return {{label_managed, "true"},
            {label_instance, options_.instance},
            {label_name, name},
            {label_id, std::to_string(id)}};
}

std::vector<std::string> docker_orchestrator::instance_filter() const {
    return instance_labels(options_.instance);
}

std::expected<net::endpoint, std::string>
docker_orchestrator::replica_endpoint(const std::string& address) const {
    if (address.empty()) {
        return std::unexpected("the container has no address on network " + options_.network);
    }
    return net::endpoint::parse(address + ":" + std::to_string(options_.replica_port));
}

runtime::task<std::optional<docker_error>> docker_orchestrator::ready() {
    if (connected_) {
        co_return std::nullopt;
    }
    auto version = co_await api_.connect();
    if (!version) {
        co_return version.error();
    }
    const std::map<std::string, std::string> network_labels{{label_managed, "true"}};
    auto network = co_await api_.ensure_network(options_.network, network_labels);
    if (!network) {
        co_return network.error();
    }
    connected_ = true;
    background_.spawn(follow_events());
    co_return std::nullopt;
}

runtime::task<std::vector<adopted_replica>> docker_orchestrator::adopt() {
    std::vector<adopted_replica> found;
    if (auto failed = co_await ready()) {
        co_return found; // spawn() will report the daemon's state
    }
    auto listed = co_await api_.list(instance_filter(), options_.network);
    if (!listed) {
        co_return found;
    }
    for (const auto& info : *listed) {
        const auto name = info.labels.find(label_name);
        const auto id = info.labels.find(label_id);
        if (name == info.labels.end() || id == info.labels.end()) {
            continue;
        }
        auto where = replica_endpoint(info.address);
        if (!info.running || !where) {
            // A stale container of ours: it would only block the name.
            co_await api_.remove(info.id);
            continue;
        }
        adopted_[name->second] = container{info.id, *where};
        found.push_back({name->second, std::strtoull(id->second.c_str(), nullptr, 10)});
    }
    co_return found;
}

runtime::task<std::expected<net::endpoint, spawn_failure>>
docker_orchestrator::spawn(spawn_request request) {
    const std::string& name = request.name;
    const std::uint64_t id = request.id;
    if (auto failed = co_await ready()) {
        co_return std::unexpected(failure_of(*failed));
    }
    if (auto found = adopted_.find(name); found != adopted_.end()) {
        containers_[name] = found->second;
        const net::endpoint where = found->second.address;
        adopted_.erase(found);
        co_return where;
    }
    container_spec spec{.name = name,
                        .image = options_.image,
                        .network = options_.network,
                        .environment = {"SERVER_ID=" + server_id_of(name, id, options_.server_id)},
                        .labels = labels_for(name, id),
                        .seccomp_profile = options_.seccomp_profile,
                        .seccomp_path = options_.seccomp_path};
    auto created = co_await api_.create(spec);
    if (!created && created.error().status == 409) {
        // A leftover of ours with this name (a replica that died and was not removed yet):
        // remove it and try once more; anyone else's container is left alone.
        auto listed = co_await api_.list(instance_filter(), options_.network);
        bool ours = false;
        if (listed) {
            for (const auto& info : *listed) {
                if (info.name == name) {
                    ours = true;
                    co_await api_.remove(info.id);
                }
            }
        }
        if (ours) {
            created = co_await api_.create(spec);
        }
    }
    if (!created) {
        co_return std::unexpected(failure_of(created.error()));
    }
    // Known from now on, so that a die while it starts is heard (the replica set acts on it
    // once this spawn answers). From here on, a failure removes the container: nothing is
    // left half-created.
    containers_[name] = container{*created, {}};
    std::optional<docker_error> failure;
    if (auto started = co_await api_.start(*created); !started) {
        failure = started.error();
    }
    std::optional<net::endpoint> where;
    if (!failure) {
        auto info = co_await api_.inspect(*created, options_.network);
        if (!info) {
            failure = info.error();
        } else if (auto parsed = replica_endpoint(info->address); parsed) {
            where = *parsed;
        } else {
            failure = docker_error{500, parsed.error()};
        }
    }
    if (failure) {
        if (auto found = containers_.find(name);
            found != containers_.end() && found->second.id == *created) {
            containers_.erase(found);
        }
        co_await api_.remove(*created);
        co_return std::unexpected(failure_of(*failure));
    }
    // Recorded again even if it died meanwhile: remove() then cleans up the dead container.
    containers_[name] = container{*created, *where};
    co_return *where;
}

runtime::task<void> docker_orchestrator::remove(std::string name, std::chrono::milliseconds grace) {
    auto found = containers_.find(name);
    if (found == containers_.end()) {
        co_return;
    }
    container gone = found->second;
    containers_.erase(found);
    reported_.erase(gone.id);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(grace);
    if (seconds.count() > 0) {
        co_await api_.stop(gone.id, seconds);
    }
    co_await api_.remove(gone.id);
}

runtime::task<void> docker_orchestrator::remove_all(std::chrono::milliseconds grace) {
    stopping_ = true;
    std::vector<std::string> names;
    for (const auto& entry : containers_) {
        names.push_back(entry.first);
    }
    for (const auto& name : names) {
        co_await remove(name, std::min<std::chrono::milliseconds>(grace, 2s));
    }
    if (events_fd_ >= 0) {
        // shutdown, not a cancel: a receive armed after this point still sees the end.
        ::shutdown(events_fd_, SHUT_RDWR);
    }
    events_backoff_.cancel();
    co_await background_.join();
}

runtime::task<void> docker_orchestrator::follow_events() {
    std::chrono::milliseconds backoff = 100ms;
    // Where a reconnection resumes: the last event's time, or when the first stream opened,
    // so that what happened while the stream was down is replayed, not lost.
    std::string resume;
    bool first = true;
    while (!stopping_) {
        if (first) {
            const auto now = std::chrono::system_clock::now().time_since_epoch();
            resume = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
        }
        // Named, not a temporary: g++ 12 mishandles a conditional's temporary in co_await.
        const std::string since = first ? std::string{} : resume;
        docker_error ended = co_await api_.follow_events(
            "container", instance_filter(), since,
            [this, &resume](const std::string& action, const std::string& id,
                            const std::map<std::string, std::string>& attributes,
                            const std::string& time) {
                if (!time.empty()) {
                    resume = time;
                }
                if (action == "die" || action == "oom") {
                    on_death(action, id, attributes);
                }
            },
            &events_fd_, &stopping_);
        first = false;
        if (stopping_) {
            break;
        }
        // The daemon went away (or restarted): follow again once it answers.
        co_await runtime::sleep_for(backoff).with_cancel(&events_backoff_);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
        (void)ended;
    }
}

void docker_orchestrator::on_death(const std::string& action, const std::string& id,
                                   const std::map<std::string, std::string>& attributes) {
    const auto name = attributes.find(label_name);
    if (name == attributes.end()) {
        return;
    }
    // By id, not by name: a late event of a removed container must not take down its
    // replacement of the same name; and once per container (a replay repeats events).
    auto found = containers_.find(name->second);
    if (found == containers_.end() || found->second.id != id || !reported_.insert(id).second) {
        return;
    }
    if (exit_handler_) {
        const auto code = attributes.find("exitCode");
        const bool killed = action == "oom" || (code != attributes.end() && code->second == "137");
        exit_handler_(name->second, killed ? "killed" : "exited");
    }
}

} // namespace orchestrator
