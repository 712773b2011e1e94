#include "orchestrator/process_orchestrator.hpp"

#include <cstring>

#include "net/listener.hpp"
#include "runtime/io.hpp"

namespace orchestrator {

using namespace std::chrono_literals;

process_orchestrator::process_orchestrator(std::string replica_binary, server_id_kind server_id)
    : binary_(std::move(replica_binary)), server_id_(server_id) {}

process_orchestrator::~process_orchestrator() {
    // remove_all() normally ran; whatever is left is killed and reaped by child_process.
    assert(watchers_.live() == 0 || children_.empty());
}

runtime::task<std::expected<net::endpoint, spawn_failure>>
process_orchestrator::spawn(spawn_request request) {
    const std::string& name = request.name;
    const std::uint64_t id = request.id;
    if (children_.contains(name)) {
        co_return std::unexpected(spawn_failure{500, "replica '" + name + "' already runs"});
    }
    auto loopback = net::endpoint::parse("127.0.0.1:0");
    auto listener = net::listen_on(*loopback, {.reuse_port = false, .backlog = 4096});
    if (!listener) {
        co_return std::unexpected(spawn_failure{500, listener.error()});
    }
    auto bound = net::endpoint::of_socket(listener->get());
    if (!bound) {
        co_return std::unexpected(spawn_failure{500, bound.error()});
    }
    auto launched = runtime::child_process::launch({
        .program = binary_,
        .arguments = {"--threads", "1"},
        .environment = {"SERVER_ID=" + server_id_of(name, id, server_id_)},
        .inherited_fd = listener->get(),
        .death_signal = SIGTERM,
    });
    // The child has its own copy of the socket now; ours would only keep the port busy.
    listener->reset();
    if (!launched) {
        co_return std::unexpected(spawn_failure{500, "cannot start " + binary_ + ": " +
                                                         std::strerror(-launched.error())});
    }
    auto started = std::make_shared<child>(child{std::move(*launched)});
    children_[name] = started;
    watchers_.spawn(watch(this, name, started));
    co_return *bound;
}

runtime::task<void> process_orchestrator::watch(process_orchestrator* self, std::string name,
                                                std::shared_ptr<child> watched) {
    const runtime::exit_status status = co_await watched->process.wait();
    watched->exited = true;
    watched->reaped.ring();
    if (watched->removing) {
        co_return;
    }
    if (auto found = self->children_.find(name);
        found != self->children_.end() && found->second == watched) {
        self->children_.erase(found);
    }
    if (self->exit_handler_) {
        self->exit_handler_(name, status.signal != 0 ? "killed" : "exited");
    }
}

runtime::task<void> process_orchestrator::remove(std::string name,
                                                 std::chrono::milliseconds grace) {
    auto found = children_.find(name);
    if (found == children_.end()) {
        co_return;
    }
    std::shared_ptr<child> stopping = found->second;
    children_.erase(found);
    if (!stopping->removing) {
        stopping->removing = true;
        stopping->process.send_signal(SIGTERM);
    }
    // The watcher reaps the child and rings: wait for that, a hard stop after `grace`.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (!stopping->exited && std::chrono::steady_clock::now() < deadline) {
        co_await stopping->reaped.wait(deadline - std::chrono::steady_clock::now());
    }
    if (!stopping->exited) {
        stopping->process.send_signal(SIGKILL);
        while (!stopping->exited) {
            co_await stopping->reaped.wait(std::chrono::seconds{1});
        }
    }
}

runtime::task<void> process_orchestrator::remove_all(std::chrono::milliseconds grace) {
    std::vector<std::string> names;
    for (const auto& entry : children_) {
        names.push_back(entry.first);
    }
    for (auto& entry : children_) {
        entry.second->removing = true;
        entry.second->process.send_signal(SIGTERM);
    }
    for (auto& name : names) {
        co_await remove(name, grace);
    }
    co_await watchers_.join();
}

} // namespace orchestrator
