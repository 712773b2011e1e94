#include "net/client_record.hpp"

#include <charconv>
#include <cstring>
#include <utility>

#include <arpa/inet.h>
#include <sys/socket.h>

namespace net::detail {

peer_address peer_address::of_socket(int fd) noexcept {
    peer_address out;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        return out;
    }
    if (peer.ss_family == AF_INET) {
        out.family = AF_INET;
        std::memcpy(out.bytes.data(), &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, 4);
    } else if (peer.ss_family == AF_INET6) {
        out.family = AF_INET6;
        std::memcpy(out.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, 16);
    }
    return out;
}

std::size_t peer_address::format(char (&text)[INET6_ADDRSTRLEN]) const noexcept {
    if (family == AF_INET) {
        // Every proxied request formats its client's address (X-Forwarded-For): by hand,
        // this is a tenth of inet_ntop's cost, which goes through sprintf.
        char* out = text;
        for (std::size_t i = 0; i < 4; ++i) {
            if (i != 0) {
                *out++ = '.';
            }
            out = std::to_chars(out, text + sizeof text, bytes[i]).ptr;
        }
        return static_cast<std::size_t>(out - text);
    }
    text[0] = '\0';
    if (family == AF_INET6) {
        inet_ntop(family, bytes.data(), text, sizeof text);
    }
    return std::strlen(text);
}

client_record* record_pool::take() {
    if (free_ == nullptr) {
        auto block = std::make_unique<client_record[]>(block_size);
        for (std::size_t i = 0; i < block_size; ++i) {
            block[i].next = free_;
            free_ = &block[i];
        }
        blocks_.push_back(std::move(block));
    }
    client_record* record = free_;
    free_ = record->next;
    *record = client_record{};
    return record;
}

void record_pool::give_back(client_record* record) noexcept {
    record->fd = -1;
    record->list = nullptr;
    record->prev = nullptr;
    record->next = free_;
    free_ = record;
}

void workspace::trim() noexcept {
    // What an ordinary request leaves behind is kept; what a large one grew is given back.
    constexpr std::size_t kept_out = 16 * 1024;
    constexpr std::size_t kept_body = 4 * 1024;
    if (out.capacity() > kept_out) {
        std::string{}.swap(out);
    }
    if (body.capacity() > kept_body) {
        std::string{}.swap(body);
    }
    if (spill.capacity() > kept_body) {
        std::string{}.swap(spill);
    }
    for (std::string& buffer : scratch) {
        if (buffer.capacity() > kept_out) {
            std::string{}.swap(buffer);
        }
        buffer.clear();
    }
    out.clear();
    body.clear();
    spill.clear();
    parser.trim();
}

workspace_pool::~workspace_pool() {
    while (free_ != nullptr) {
        delete std::exchange(free_, free_->next_free);
    }
}

workspace* workspace_pool::take(const http::parse_limits& limits) {
    if (free_ == nullptr) {
        ++existing_;
        return new workspace(limits);
    }
    --pooled_;
    return std::exchange(free_, free_->next_free);
}

void workspace_pool::give_back(workspace* space) noexcept {
    if (pooled_ >= max_pooled_) {
        --existing_;
        delete space;
        return;
    }
    // The next connection starts afresh, whatever state this one left the parser in.
    space->parser.reset();
    space->trim();
    space->next_free = free_;
    free_ = space;
    ++pooled_;
}

} // namespace net::detail
