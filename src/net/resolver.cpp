#include "net/resolver.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "runtime/alarm.hpp"
#include "runtime/reactor.hpp"

namespace net {

namespace {
// Shared by the waiting coroutine and the lookup thread; whichever ends last frees it.
struct lookup {
    std::mutex mutex;
    runtime::reactor* home = nullptr; // null once the waiter gave up: nothing is posted
    std::optional<std::expected<endpoint, std::string>> answer;
    runtime::alarm done;
};
} // namespace

runtime::task<std::expected<endpoint, std::string>> resolve(std::string text,
                                                            std::chrono::milliseconds timeout) {
    if (auto numeric = endpoint::parse_numeric(text)) {
        co_return *numeric;
    }
    auto shared = std::make_shared<lookup>();
    shared->home = &runtime::reactor::current();
    std::thread([shared, text] {
        auto answer = endpoint::parse(text);
        std::lock_guard lock(shared->mutex);
        if (shared->home != nullptr) {
            shared->home->post([shared, answer = std::move(answer)]() mutable {
                shared->answer = std::move(answer);
                shared->done.ring();
            });
        }
    }).detach();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!shared->answer && std::chrono::steady_clock::now() < deadline) {
        co_await shared->done.wait(deadline - std::chrono::steady_clock::now());
    }
    if (!shared->answer) {
        std::lock_guard lock(shared->mutex);
        shared->home = nullptr;
        co_return std::unexpected("cannot resolve '" + text + "': no answer within " +
                                  std::to_string(timeout.count()) + " ms");
    }
    co_return std::move(*shared->answer);
}

} // namespace net
