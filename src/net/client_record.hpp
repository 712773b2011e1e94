#pragma once
// The pieces http_server keeps per connection (internal to net/):
//   - client_record: all an idle connection costs in user space (fd, peer address, its
//     armed receive, its deadline, list links): about 100 bytes, from a record_pool that
//     allocates records in blocks and never moves them (the kernel holds a pointer to the
//     receive's completion inside);
//   - record_list: an intrusive FIFO of records (waiting for a first request, waiting for a
//     next one, busy);
//   - workspace: what a connection needs only while it has a request in hand (the parser,
//     the output string, whole bodies, parked input), taken from a workspace_pool and given
//     back, trimmed, when the connection goes idle again.
// Everything here belongs to one server and its thread; nothing is shared.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>

#include "http/parse_step.hpp"
#include "http/request_parser.hpp"
#include "runtime/completion.hpp"

namespace net {

class http_server;

namespace detail {

// A peer's IP address in 17 bytes; formatted to text only while a request needs it.
struct peer_address {
    std::uint8_t family = 0; // AF_INET, AF_INET6, or 0 (Unix socket, unknown)
    std::array<std::uint8_t, 16> bytes{};

    static peer_address of_socket(int fd) noexcept;
    // The address as text into `text` ("" when unknown); returns its length.
    std::size_t format(char (&text)[INET6_ADDRSTRLEN]) const noexcept;
};

struct record_list;

struct client_record {
    using clock = std::chrono::steady_clock;

    int fd = -1;
    bool fresh = true;    // no request yet: header_timeout applies, and a 408 on expiry
    bool expired = false; // its wait was cancelled by the deadline
    peer_address peer;
    http_server* server = nullptr;
    // The receive armed while waiting for a request (result and flags recorded here).
    runtime::owned_completion<client_record> receive;
    clock::time_point deadline{}; // end of the current wait (the first head's, when fresh)
    record_list* list = nullptr;
    client_record* prev = nullptr;
    client_record* next = nullptr;
};

// The whole user-space cost of an idle connection (docs/design.md: under 1 KiB; aim 512 B).
static_assert(sizeof(client_record) <= 128, "an idle connection must stay small");

struct record_list {
    client_record* first = nullptr;
    client_record* last = nullptr;
    std::size_t size = 0;

    void push_back(client_record* record) noexcept {
        record->list = this;
        record->prev = last;
        record->next = nullptr;
        (last != nullptr ? last->next : first) = record;
        last = record;
        ++size;
    }
    void remove(client_record* record) noexcept {
        (record->prev != nullptr ? record->prev->next : first) = record->next;
        (record->next != nullptr ? record->next->prev : last) = record->prev;
        record->prev = record->next = nullptr;
        record->list = nullptr;
        --size;
    }
};

// Records in blocks of block_size, recycled through a free list: steady state allocates
// nothing, and a block is never moved or freed while the server lives.
class record_pool {
public:
    client_record* take();
    void give_back(client_record* record) noexcept;

private:
    static constexpr std::size_t block_size = 256;
    std::vector<std::unique_ptr<client_record[]>> blocks_;
    client_record* free_ = nullptr; // linked through `next`
};

struct workspace {
    explicit workspace(const http::parse_limits& limits) : parser(limits) {}

    http::request_parser parser;
    std::string out;   // answers not sent yet
    std::string body;  // whole bodies of routes that do not stream
    std::string spill; // unread input kept while the handler waits (request_body::park)
    // The handler's own per-connection buffers (request_context::scratch), kept across
    // requests so that a steady stream of requests allocates nothing.
    std::array<std::string, 2> scratch;
    char client_ip[INET6_ADDRSTRLEN] = {};
    workspace* next_free = nullptr;

    // Gives back what a large request made the strings and the parser take, so that a
    // pooled workspace costs a few hundred bytes.
    void trim() noexcept;
};

// Workspaces for the connections that have a request in hand; at most `max_pooled` are
// kept once given back (a burst of in-flight requests does not stay allocated forever).
class workspace_pool {
public:
    explicit workspace_pool(std::size_t max_pooled = 256) : max_pooled_(max_pooled) {}
    ~workspace_pool();
    workspace_pool(const workspace_pool&) = delete;
    workspace_pool& operator=(const workspace_pool&) = delete;

    workspace* take(const http::parse_limits& limits);
    void give_back(workspace* space) noexcept;
    // Workspaces that exist: in use plus pooled.
    std::size_t existing() const noexcept { return existing_; }

private:
    std::size_t max_pooled_;
    workspace* free_ = nullptr;
    std::size_t pooled_ = 0;
    std::size_t existing_ = 0;
};

} // namespace detail
} // namespace net
