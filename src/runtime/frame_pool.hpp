#pragma once
// Recycles coroutine frames per thread, so the request path does not reach malloc for
// each task it starts. Frames are freed on the thread that made them (frames never
// migrate: docs/design.md, "Threading model"), which is what makes a thread-local free list enough.
// Under AddressSanitizer the pool steps aside so use-after-free stays visible.

#include <cstddef>
#include <new>

namespace runtime::frame_pool {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline void* allocate(std::size_t size) {
    return ::operator new(size);
}
inline void deallocate(void* p, std::size_t) noexcept {
    ::operator delete(p);
}
#else
namespace detail {
inline constexpr std::size_t granule = 64;
inline constexpr std::size_t classes = 32; // frames up to 2 KiB are pooled
inline constexpr std::size_t max_cached_per_class = 1024;

struct free_node {
    free_node* next;
};

struct free_lists {
    free_node* head[classes] = {};
    std::size_t count[classes] = {};

    ~free_lists() {
        for (auto* node : head) {
            while (node != nullptr) {
                free_node* next = node->next;
                ::operator delete(node);
                node = next;
            }
        }
    }
};

inline free_lists& lists() {
    thread_local free_lists instance;
    return instance;
}
} // namespace detail

inline void* allocate(std::size_t size) {
    const std::size_t index = (size + detail::granule - 1) / detail::granule - 1;
    if (index >= detail::classes) {
        return ::operator new(size);
    }
    auto& lists = detail::lists();
    if (detail::free_node* node = lists.head[index]) {
        lists.head[index] = node->next;
        --lists.count[index];
        return node;
    }
    return ::operator new((index + 1) * detail::granule);
}

inline void deallocate(void* p, std::size_t size) noexcept {
    const std::size_t index = (size + detail::granule - 1) / detail::granule - 1;
    if (index >= detail::classes) {
        ::operator delete(p);
        return;
    }
    auto& lists = detail::lists();
    if (lists.count[index] >= detail::max_cached_per_class) {
        ::operator delete(p);
        return;
    }
    auto* node = static_cast<detail::free_node*>(p);
    node->next = lists.head[index];
    lists.head[index] = node;
    ++lists.count[index];
}
#endif

} // namespace runtime::frame_pool
