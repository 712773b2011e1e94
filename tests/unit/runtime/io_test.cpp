#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/acceptor.hpp"
#include "runtime/alarm.hpp"
#include "runtime/child_process.hpp"
#include "runtime/deadline_list.hpp"
#include "runtime/io.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"
#include "runtime/signals.hpp"

using namespace std::chrono_literals;
using runtime::task;

namespace {
struct socket_pair {
    int fds[2] = {-1, -1};
    socket_pair() { REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }
    ~socket_pair() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
};

struct loopback_listener {
    int fd = -1;
    sockaddr_in address{};
    loopback_listener() {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        socklen_t length = sizeof address;
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
        REQUIRE(listen(fd, 64) == 0);
    }
    ~loopback_listener() { ::close(fd); }
};

runtime::buffer_ring& server_ring() {
    return runtime::reactor::current().buffers(runtime::buffer_group::server);
}

std::string drain(int fd, std::size_t want) {
    std::string out(want, '\0');
    std::size_t got = 0;
    while (got < want) {
        ssize_t n = ::read(fd, out.data() + got, want - got);
        if (n <= 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}
} // namespace

TEST_CASE("a turn submits every queued SQE with one io_uring_enter") {
    runtime::reactor loop;
    auto many = [](int count) -> task<int> {
        runtime::scope group;
        int done = 0;
        auto one = [](int* counter) -> task<void> {
            co_await runtime::nop();
            ++*counter;
        };
        for (int i = 0; i < count; ++i) {
            group.spawn(one(&done));
        }
        co_await group.join();
        co_return done;
    };
    const auto before = loop.enter_calls();
    CHECK(loop.block_on(many(100)) == 100);
    // 100 NOPs queued in one turn: one enter to submit them all and reap, plus a little
    // slack for the block_on driver; certainly not one per operation.
    CHECK(loop.enter_calls() - before <= 3);
}

TEST_CASE("batched waits: nothing waits for a batch that never comes, idle loops sleep") {
    runtime::reactor_options options;
    options.batch_wait = std::chrono::microseconds{1000};
    options.batch = 32;
    runtime::reactor loop{options};
    loop.batch_waits(true);
    auto scenario = [](runtime::reactor* r) -> task<void> {
        // One completion, long after the wait began, with no batch to fill: it arrives.
        socket_pair pair;
        std::thread writer{[fd = pair.fds[1]] {
            std::this_thread::sleep_for(20ms);
            CHECK(::write(fd, "late", 4) == 4);
        }};
        auto late = co_await runtime::receive_some(pair.fds[0], server_ring());
        writer.join();
        CHECK(late.buffer.view() == "late");
        late.buffer.release();

        // An idle stretch 100 times the batch wait is slept through, not ticked through.
        const auto before = r->enter_calls();
        const int slept = co_await runtime::sleep_for(100ms);
        CHECK(slept == 0);
        CHECK(r->enter_calls() - before <= 4);

        // Many completions at once all arrive.
        runtime::scope group;
        int done = 0;
        auto one = [](int* counter) -> task<void> {
            co_await runtime::sleep_for(1ms);
            ++*counter;
        };
        for (int i = 0; i < 200; ++i) {
            group.spawn(one(&done));
        }
        co_await group.join();
        CHECK(done == 200);
    };
    loop.block_on(scenario(&loop));
    CHECK(loop.buffers(runtime::buffer_group::server).leased() == 0);
}

TEST_CASE("sleep completes after its duration and a linked timeout bounds an operation") {
    runtime::reactor loop;
    auto timed = []() -> task<void> {
        const auto start = std::chrono::steady_clock::now();
        const int slept = co_await runtime::sleep_for(20ms);
        CHECK(slept == 0);
        CHECK(std::chrono::steady_clock::now() - start >= 20ms);

        socket_pair pair;
        // Nobody writes: the receive must end by its deadline with -ETIMEDOUT.
        auto got = co_await runtime::receive(pair.fds[0], server_ring()).with_timeout(30ms);
        CHECK(got.result == -ETIMEDOUT);
        CHECK_FALSE(got.buffer);
        // An operation that completes first is not reported as timed out.
        CHECK(::write(pair.fds[1], "x", 1) == 1);
        auto fast = co_await runtime::receive(pair.fds[0], server_ring()).with_timeout(1s);
        CHECK(fast.result == 1);
        CHECK(fast.buffer.view() == "x");
    };
    loop.block_on(timed());
    CHECK(loop.buffers(runtime::buffer_group::server).leased() == 0);
}

TEST_CASE("turn_time is read once per turn and follows the clock from turn to turn") {
    using clock = std::chrono::steady_clock;
    // No reactor on this thread yet: the clock itself.
    const auto before = clock::now();
    const auto read = runtime::turn_time();
    const auto after = clock::now();
    CHECK(read >= before);
    CHECK(read <= after);
    runtime::reactor loop;
    auto turns = []() -> task<void> {
        const auto first = runtime::turn_time();
        const auto spin_until = clock::now() + 3ms;
        while (clock::now() < spin_until) {
        }
        CHECK(runtime::turn_time() == first); // the same turn: not read again
        const auto asleep = clock::now();
        co_await runtime::sleep_for(5ms);
        const auto next = runtime::turn_time();
        const auto now = clock::now();
        CHECK(next >= asleep + 5ms); // read after the wait that ended this turn
        CHECK(next <= now);
    };
    loop.block_on(turns());
    // Between two runs of the loop: the clock again, not the last turn's time.
    std::this_thread::sleep_for(3ms);
    const auto idle_before = clock::now();
    CHECK(runtime::turn_time() >= idle_before);
}

TEST_CASE("a pending operation is cancelled through its slot") {
    runtime::reactor loop;
    auto scenario = []() -> task<void> {
        runtime::scope group;
        socket_pair pair;
        runtime::cancel_slot slot;
        int result = 1;
        auto waiter = [](int fd, runtime::cancel_slot* s, int* out) -> task<void> {
            auto got = co_await runtime::receive(fd, server_ring()).with_cancel(s);
            *out = got.result;
        };
        group.spawn(waiter(pair.fds[0], &slot, &result));
        co_await runtime::nop(); // let the receive reach the kernel
        CHECK(slot.pending());
        slot.cancel();
        co_await group.join();
        CHECK(result == -ECANCELED);
        CHECK_FALSE(slot.pending());

        int sleep_result = 1;
        auto sleeper = [](runtime::cancel_slot* s, int* out) -> task<void> {
            *out = co_await runtime::sleep_for(10s).with_cancel(s);
        };
        group.spawn(sleeper(&slot, &sleep_result));
        co_await runtime::nop();
        slot.cancel();
        co_await group.join();
        CHECK(sleep_result == -ECANCELED);
    };
    loop.block_on(scenario());
}

TEST_CASE("an alarm's wait ends at its limit, or at once when rung, twice rung or not") {
    runtime::reactor loop;
    auto scenario = []() -> task<void> {
        runtime::scope group;
        runtime::alarm alarm;
        const auto start = std::chrono::steady_clock::now();
        co_await alarm.wait(30ms); // nobody rings
        CHECK(std::chrono::steady_clock::now() - start >= 30ms);
        CHECK_FALSE(alarm.waiting());
        alarm.ring(); // nobody waits: nothing happens, and the next wait is not cut short
        const auto second = std::chrono::steady_clock::now();
        co_await alarm.wait(20ms);
        CHECK(std::chrono::steady_clock::now() - second >= 20ms);

        bool woke = false;
        auto waiter = [](runtime::alarm* a, bool* out) -> task<void> {
            co_await a->wait(10s);
            *out = true;
        };
        const auto third = std::chrono::steady_clock::now();
        group.spawn(waiter(&alarm, &woke));
        co_await runtime::nop();
        CHECK(alarm.waiting());
        alarm.ring();
        alarm.ring(); // a second ring before the waiter resumes is a no-op
        co_await group.join();
        CHECK(woke);
        CHECK(std::chrono::steady_clock::now() - third < 5s);
    };
    loop.block_on(scenario());
}

TEST_CASE("received buffers are leases that go back to the ring") {
    runtime::reactor_options options;
    options.server_buffers = {.count = 2, .size = 64};
    runtime::reactor loop{options};
    auto scenario = [](runtime::reactor* r) -> task<void> {
        socket_pair pair;
        CHECK(::write(pair.fds[1], "hello", 5) == 5);
        auto first = co_await runtime::receive_some(pair.fds[0], server_ring());
        CHECK(first.buffer.view() == "hello");
        CHECK(::write(pair.fds[1], "world", 5) == 5);
        auto second = co_await runtime::receive_some(pair.fds[0], server_ring());
        CHECK(second.buffer.view() == "world");
        CHECK(r->buffers(runtime::buffer_group::server).leased() == 2);

        // Every buffer is leased: the next receive parks on -ENOBUFS until one returns.
        CHECK(::write(pair.fds[1], "again", 5) == 5);
        runtime::scope group;
        std::string third;
        auto reader = [](int fd, std::string* out) -> task<void> {
            auto got = co_await runtime::receive_some(fd, server_ring());
            *out = std::string(got.buffer.view());
        };
        group.spawn(reader(pair.fds[0], &third));
        co_await runtime::nop();
        co_await runtime::nop();
        CHECK(third.empty());
        first.buffer.release();
        co_await group.join();
        CHECK(third == "again");
        second.buffer.release();
        CHECK(r->buffers(runtime::buffer_group::server).leased() == 0);

        // End of stream reads as 0 and leaves no buffer leased.
        ::shutdown(pair.fds[1], SHUT_WR);
        auto eof = co_await runtime::receive_some(pair.fds[0], server_ring());
        CHECK(eof.result == 0);
    };
    loop.block_on(scenario(&loop));
    CHECK(loop.buffers(runtime::buffer_group::server).leased() == 0);
}

TEST_CASE("a receive that finds every buffer leased keeps its deadline and its cancel slot") {
    runtime::reactor_options options;
    options.server_buffers = {.count = 2, .size = 64};
    runtime::reactor loop{options};
    auto scenario = []() -> task<void> {
        socket_pair a, b, c;
        CHECK(::write(a.fds[1], "a", 1) == 1);
        CHECK(::write(b.fds[1], "b", 1) == 1);
        auto first = co_await runtime::receive_some(a.fds[0], server_ring());
        auto second = co_await runtime::receive_some(b.fds[0], server_ring());
        REQUIRE(server_ring().leased() == 2);

        // Bytes are there, buffers are not: the wait ends with the receive's own timeout.
        CHECK(::write(c.fds[1], "c", 1) == 1);
        const auto start = std::chrono::steady_clock::now();
        auto late = co_await runtime::receive_some(c.fds[0], server_ring(), 30ms);
        CHECK(late.result == -ETIMEDOUT);
        CHECK(std::chrono::steady_clock::now() - start >= 30ms);
        CHECK(server_ring().waiting() == 0);
        CHECK(server_ring().exhausted() >= 1);

        // ... or when its slot is cancelled (a server stopping, a deadline list).
        runtime::scope group;
        runtime::cancel_slot slot;
        int cancelled = 1;
        auto waiter = [](int fd, runtime::cancel_slot* s, int* out) -> task<void> {
            auto got = co_await runtime::receive_some(fd, server_ring(),
                                                      std::chrono::nanoseconds::max(), s);
            *out = got.result;
        };
        group.spawn(waiter(c.fds[0], &slot, &cancelled));
        co_await runtime::nop();
        co_await runtime::nop();
        CHECK(server_ring().waiting() == 1);
        CHECK(slot.pending());
        slot.cancel();
        co_await group.join();
        CHECK(cancelled == -ECANCELED);
        CHECK(server_ring().waiting() == 0);

        // A deadline list times it out like any receive.
        runtime::deadline_list deadlines;
        runtime::scope sweeper;
        sweeper.spawn(deadlines.run(10ms));
        int swept = 1;
        {
            runtime::deadline_list::wait timed{deadlines, std::chrono::steady_clock::now() + 20ms};
            auto got = co_await runtime::receive_some(
                c.fds[0], server_ring(), std::chrono::nanoseconds::max(), timed.slot());
            swept = timed.outcome(got.result);
        }
        CHECK(swept == -ETIMEDOUT);
        deadlines.stop();
        co_await sweeper.join();

        // Once a buffer comes back, the bytes that waited are received.
        first.buffer.release();
        auto third = co_await runtime::receive_some(c.fds[0], server_ring(), 1s);
        CHECK(third.buffer.view() == "c");
    };
    loop.block_on(scenario());
    CHECK(loop.buffers(runtime::buffer_group::server).leased() == 0);
}

TEST_CASE("a buffer that comes back between -ENOBUFS and the wait is not lost") {
    runtime::reactor_options options;
    options.server_buffers = {.count = 2, .size = 64};
    runtime::reactor loop{options};
    auto scenario = []() -> task<void> {
        socket_pair a, b, c;
        CHECK(::write(a.fds[1], "a", 1) == 1);
        CHECK(::write(b.fds[1], "b", 1) == 1);
        auto first = co_await runtime::receive_some(a.fds[0], server_ring());
        auto second = co_await runtime::receive_some(b.fds[0], server_ring());
        CHECK(::write(c.fds[1], "c", 1) == 1);
        // The releaser's NOP and the reader's receive go to the kernel in one submission,
        // in that order: the receive fails at once (-ENOBUFS), both completions are reaped
        // together, and the releaser runs first. The buffer it gives back finds no waiter
        // yet; the reader must still see it.
        runtime::scope group;
        auto releaser = [](runtime::buffer_lease* lease) -> task<void> {
            co_await runtime::nop();
            lease->release();
        };
        std::string got;
        auto reader = [](int fd, std::string* out) -> task<void> {
            auto received = co_await runtime::receive_some(fd, server_ring(), 500ms);
            *out = received.result > 0 ? std::string(received.buffer.view()) : "failed";
        };
        group.spawn(releaser(&first.buffer));
        group.spawn(reader(c.fds[0], &got));
        co_await group.join();
        CHECK(got == "c");
    };
    loop.block_on(scenario());
}

TEST_CASE("returned buffers wake the waiting receives until every one is served") {
    runtime::reactor_options options;
    options.server_buffers = {.count = 2, .size = 64};
    runtime::reactor loop{options};
    auto scenario = []() -> task<void> {
        constexpr int readers = 12;
        std::vector<std::unique_ptr<socket_pair>> pairs;
        for (int i = 0; i < readers; ++i) {
            pairs.push_back(std::make_unique<socket_pair>());
            CHECK(::write(pairs.back()->fds[1], "x", 1) == 1);
        }
        // Each reader holds its buffer for a while after receiving (a request being
        // parsed), so most of them find the ring empty and wait.
        runtime::scope group;
        int served = 0;
        auto reader = [](int fd, int* count) -> task<void> {
            auto got = co_await runtime::receive_some(fd, server_ring(), 5s);
            if (got.result == 1 && got.buffer.view() == "x") {
                co_await runtime::sleep_for(2ms);
                ++*count;
            }
        };
        for (auto& pair : pairs) {
            group.spawn(reader(pair->fds[0], &served));
        }
        co_await group.join();
        CHECK(served == readers);
        // Two buffers for twelve receives: at least ten of them had to wait.
        CHECK(server_ring().exhausted() >= readers - 2);
        CHECK(server_ring().waiting() == 0);
    };
    loop.block_on(scenario());
    CHECK(loop.buffers(runtime::buffer_group::server).leased() == 0);
}

TEST_CASE("server and client receives draw from separate buffer groups") {
    runtime::reactor_options options;
    options.server_buffers = {.count = 2, .size = 64};
    options.client_buffers = {.count = 2, .size = 64};
    runtime::reactor loop{options};
    auto scenario = [](runtime::reactor* r) -> task<void> {
        socket_pair a, b, c;
        CHECK(::write(a.fds[1], "a", 1) == 1);
        CHECK(::write(b.fds[1], "b", 1) == 1);
        auto first = co_await runtime::receive_some(a.fds[0], server_ring());
        auto second = co_await runtime::receive_some(b.fds[0], server_ring());
        CHECK(r->buffers(runtime::buffer_group::server).leased() == 2);
        // The server group is exhausted; the client group is not touched by it.
        CHECK(::write(c.fds[1], "answer", 6) == 6);
        auto answer =
            co_await runtime::receive_some(c.fds[0], r->buffers(runtime::buffer_group::client), 1s);
        CHECK(answer.buffer.view() == "answer");
        CHECK(r->buffers(runtime::buffer_group::client).leased() == 1);
    };
    loop.block_on(scenario(&loop));
}

TEST_CASE("send_all and writev_all deliver every byte through short writes") {
    runtime::reactor loop;
    socket_pair pair;
    int small = 4096;
    setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    const std::string payload(1 << 20, 'p');
    bool intact = false;
    std::thread reader(
        [&] { intact = drain(pair.fds[1], payload.size() + 11) == payload + "hello world"; });
    auto scenario = [](int fd, const std::string* data) -> task<void> {
        const int sent = co_await runtime::send_all(fd, *data);
        CHECK(sent == 0);
        std::string a = "hello", b = " ", c = "world";
        iovec vectors[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
        const int written = co_await runtime::writev_all(fd, vectors);
        CHECK(written == 0);
    };
    loop.block_on(scenario(pair.fds[0], &payload));
    reader.join();
    CHECK(intact);

    auto broken = [](int fd) -> task<int> { co_return co_await runtime::send_all(fd, "x"); };
    ::close(pair.fds[1]);
    pair.fds[1] = -1;
    CHECK(loop.block_on(broken(pair.fds[0])) == -EPIPE);
}

TEST_CASE("writev_all with a timeout and MSG_MORE still delivers every byte") {
    // The first try goes without a timeout (MSG_DONTWAIT); a small send buffer makes it
    // short, and the rest goes through the timed sends.
    runtime::reactor loop;
    socket_pair pair;
    int small = 4096;
    setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    const std::string head = "head:", payload(1 << 20, 'q');
    bool intact = false;
    std::thread reader(
        [&] { intact = drain(pair.fds[1], head.size() + payload.size()) == head + payload; });
    auto scenario = [](int fd, const std::string* a, const std::string* b) -> task<void> {
        iovec vectors[2] = {{const_cast<char*>(a->data()), a->size()},
                            {const_cast<char*>(b->data()), b->size()}};
        const int written = co_await runtime::writev_all(fd, vectors, 5s, MSG_MORE);
        CHECK(written == 0);
    };
    loop.block_on(scenario(pair.fds[0], &head, &payload));
    reader.join();
    CHECK(intact);
}

TEST_CASE("a receive says whether the socket has more bytes waiting") {
    runtime::reactor_options options;
    options.client_buffers = {.count = 4, .size = 1024};
    runtime::reactor loop{options};
    loopback_listener listener;
    auto scenario = [](loopback_listener* l) -> task<void> {
        const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&l->address), sizeof l->address) ==
                0);
        const int accepted = ::accept(l->fd, nullptr, nullptr);
        REQUIRE(accepted >= 0);
        const std::string two_buffers(1500, 'm');
        REQUIRE(::write(client, two_buffers.data(), two_buffers.size()) == 1500);
        runtime::buffer_ring& ring =
            runtime::reactor::current().buffers(runtime::buffer_group::client);
        auto first = co_await runtime::receive_some(accepted, ring);
        CHECK(first.result == 1024);
        CHECK(first.more);
        auto second = co_await runtime::receive_some(accepted, ring);
        CHECK(second.result == 476);
        CHECK_FALSE(second.more);
        ::close(accepted);
        ::close(client);
    };
    loop.block_on(scenario(&listener));
}

TEST_CASE("connect, multishot accept, close") {
    runtime::reactor loop;
    loopback_listener listener;
    auto scenario = [](loopback_listener* l) -> task<void> {
        runtime::acceptor accepting{l->fd};
        int clients[3];
        for (int& client : clients) {
            client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const int connected = co_await runtime::connect(
                client, reinterpret_cast<sockaddr*>(&l->address), sizeof l->address);
            CHECK(connected == 0);
        }
        for (int i = 0; i < 3; ++i) {
            const int accepted = co_await accepting.next();
            REQUIRE(accepted >= 0);
            const int closed = co_await runtime::close(accepted);
            CHECK(closed == 0);
        }
        for (int client : clients) {
            const int closed = co_await runtime::close(client);
            CHECK(closed == 0);
        }
        co_await accepting.stop();
        const int after_stop = co_await accepting.next();
        CHECK(after_stop == -ECANCELED);

        // Connecting to a port nobody listens on reports the kernel's error.
        sockaddr_in unused = l->address;
        unused.sin_port = 0;
        const int lonely = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int refused =
            co_await runtime::connect(lonely, reinterpret_cast<sockaddr*>(&unused), sizeof unused);
        CHECK(refused == -ECONNREFUSED);
        ::close(lonely);
    };
    loop.block_on(scenario(&listener));
}

TEST_CASE("a connect and its first send go in one linked submission") {
    runtime::reactor loop;
    loopback_listener listener;
    auto scenario = [](loopback_listener* l) -> task<void> {
        const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const auto done = co_await runtime::connect_send_op{
            client, reinterpret_cast<sockaddr*>(&l->address), sizeof l->address, 1s, "hello"};
        CHECK(done.connected == 0);
        CHECK(done.sent == 5);
        const int accepted = ::accept(l->fd, nullptr, nullptr);
        REQUIRE(accepted >= 0);
        CHECK(drain(accepted, 5) == "hello");
        ::close(accepted);
        ::close(client);

        // A refused connect: the send never happens, and says so.
        sockaddr_in unused = l->address;
        unused.sin_port = 0;
        const int lonely = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const auto refused = co_await runtime::connect_send_op{
            lonely, reinterpret_cast<sockaddr*>(&unused), sizeof unused, 1s, "lost"};
        CHECK(refused.connected == -ECONNREFUSED);
        CHECK(refused.sent == -ECANCELED);
        ::close(lonely);

        // A listener whose backlog is full drops the SYN: the timeout ends the connect.
        loopback_listener full;
        REQUIRE(listen(full.fd, 0) == 0);
        int waiting[2];
        for (int& fd : waiting) {
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            ::connect(fd, reinterpret_cast<sockaddr*>(&full.address), sizeof full.address);
        }
        const int late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const auto timed_out = co_await runtime::connect_send_op{
            late, reinterpret_cast<sockaddr*>(&full.address), sizeof full.address, 50ms, "x"};
        CHECK(timed_out.connected == -ETIMEDOUT);
        CHECK(timed_out.sent == -ECANCELED);
        ::close(late);
        for (int fd : waiting) {
            ::close(fd);
        }
    };
    loop.block_on(scenario(&listener));
}

TEST_CASE("post runs functions from other threads on the reactor's thread") {
    runtime::reactor loop;
    std::atomic<int> ran{0};
    const auto owner = std::this_thread::get_id();
    std::thread poster([&] {
        for (int i = 0; i < 1000; ++i) {
            loop.post([&, i] {
                CHECK(std::this_thread::get_id() == owner);
                ran.fetch_add(1, std::memory_order_relaxed);
                if (i == 999) {
                    loop.stop();
                }
            });
        }
    });
    loop.run();
    poster.join();
    CHECK(ran.load() == 1000);
}

TEST_CASE("signals arrive through the signalfd") {
    runtime::signal_set::block_in_process({SIGUSR1});
    runtime::reactor loop;
    runtime::signal_set signals{SIGUSR1};
    auto scenario = [](runtime::signal_set* s) -> task<int> {
        ::kill(::getpid(), SIGUSR1);
        co_return co_await s->next();
    };
    CHECK(loop.block_on(scenario(&signals)) == SIGUSR1);
}

TEST_CASE("child processes: exit codes, signals, missing binaries, an inherited fd") {
    runtime::reactor loop;
    auto scenario = []() -> task<void> {
        auto ok =
            runtime::child_process::launch({.program = "/bin/sh", .arguments = {"-c", "exit 3"}});
        REQUIRE(ok.has_value());
        auto status = co_await ok->wait();
        CHECK(status.code == 3);
        CHECK(status.signal == 0);
        CHECK(ok->exited());

        auto sleeper =
            runtime::child_process::launch({.program = "/bin/sleep", .arguments = {"30"}});
        REQUIRE(sleeper.has_value());
        CHECK(sleeper->send_signal(SIGKILL) == 0);
        auto killed = co_await sleeper->wait();
        CHECK(killed.signal == SIGKILL);
        CHECK(killed.describe() == "killed by signal 9 (KILL)");

        auto missing = runtime::child_process::launch({.program = "/nonexistent/lb-replica"});
        REQUIRE_FALSE(missing.has_value());
        CHECK(missing.error() == -ENOENT);

        int pipe_fds[2];
        REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
        auto writer = runtime::child_process::launch(
            {.program = "/bin/sh",
             .arguments = {"-c", "printf '%s' \"$LISTEN_FDS:$EXTRA\" >&3"},
             .environment = {"EXTRA=yes"},
             .inherited_fd = pipe_fds[1]});
        REQUIRE(writer.has_value());
        ::close(pipe_fds[1]);
        const auto wrote = co_await writer->wait();
        CHECK(wrote.code == 0);
        CHECK(drain(pipe_fds[0], 64) == "1:yes");
        ::close(pipe_fds[0]);
    };
    loop.block_on(scenario());
}

TEST_CASE("a refused io_uring_setup names the likely causes") {
    const std::string eperm = runtime::describe_ring_setup_failure(-EPERM);
    CHECK(eperm.find("seccomp") != std::string::npos);
    CHECK(eperm.find("kernel.io_uring_disabled") != std::string::npos);
    CHECK(runtime::describe_ring_setup_failure(-ENOSYS).find("seccomp") != std::string::npos);
    const std::string enomem = runtime::describe_ring_setup_failure(-ENOMEM);
    CHECK(enomem.find("seccomp") == std::string::npos);
    CHECK(enomem.find("memlock") != std::string::npos);
    CHECK(enomem.find("CAP_IPC_LOCK") != std::string::npos);
    CHECK(runtime::describe_ring_setup_failure(-EINVAL).find("memlock") == std::string::npos);
}

TEST_CASE("one reactor per thread") {
    runtime::reactor loop;
    CHECK_THROWS_AS(runtime::reactor{}, runtime::startup_error);
}

TEST_CASE("a deadline list times out waits with one timer and stops at once") {
    runtime::reactor loop;
    auto scenario = []() -> task<void> {
        runtime::deadline_list deadlines;
        runtime::scope group;
        group.spawn(deadlines.run(10ms));
        socket_pair pair;
        const auto start = std::chrono::steady_clock::now();
        int late = 0;
        {
            runtime::deadline_list::wait timed{deadlines, start + 30ms};
            auto got = co_await runtime::receive_some(
                pair.fds[0], server_ring(), std::chrono::nanoseconds::max(), timed.slot());
            late = timed.outcome(got.result);
        }
        CHECK(late == -ETIMEDOUT);
        CHECK(std::chrono::steady_clock::now() - start >= 30ms);

        // A wait that completes in time is untouched.
        CHECK(::write(pair.fds[1], "y", 1) == 1);
        int on_time = 0;
        {
            runtime::deadline_list::wait timed{deadlines, std::chrono::steady_clock::now() + 1s};
            auto got = co_await runtime::receive_some(
                pair.fds[0], server_ring(), std::chrono::nanoseconds::max(), timed.slot());
            on_time = timed.outcome(got.result);
        }
        CHECK(on_time == 1);
        deadlines.stop();
        co_await group.join();
    };
    loop.block_on(scenario());
}
