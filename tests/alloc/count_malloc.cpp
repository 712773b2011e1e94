// count_malloc: an LD_PRELOAD shim that counts heap allocations (malloc, calloc, realloc,
// the aligned forms, and so every operator new) of the whole process, and every 20 ms
// writes the running count, as decimal text, to the file named by COUNT_MALLOC_FILE (into
// a temporary file renamed over it, so a reader never sees it half-written).
// The allocation-free request path test (alloc_test.py) reads it before and after a run.
// The calls go on to glibc's own (__libc_*); the writer thread never allocates.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
std::atomic<unsigned long> allocations{0};

void count() noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
}

void* writer(void* path) {
    char text[32];
    char temporary[4096];
    std::snprintf(temporary, sizeof temporary, "%s.part", static_cast<const char*>(path));
    const timespec period{0, 20 * 1000 * 1000};
    for (;;) {
        const int fd = ::open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            const int n = std::snprintf(text, sizeof text, "%lu\n",
                                        allocations.load(std::memory_order_relaxed));
            const bool whole = ::write(fd, text, static_cast<std::size_t>(n)) == n;
            ::close(fd);
            if (whole) {
                ::rename(temporary, static_cast<const char*>(path));
            }
        }
        ::nanosleep(&period, nullptr);
    }
    return nullptr;
}

__attribute__((constructor)) void start_writer() {
    const char* path = std::getenv("COUNT_MALLOC_FILE");
    if (path == nullptr || *path == '\0') {
        return;
    }
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, writer, const_cast<char*>(path));
    pthread_attr_destroy(&attributes);
}
} // namespace

extern "C" {
void* malloc(std::size_t size) {
    count();
    return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) {
    count();
    return __libc_calloc(n, size);
}

void* realloc(void* old, std::size_t size) {
    count();
    return __libc_realloc(old, size);
}

void* memalign(std::size_t alignment, std::size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) {
    return memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
    void* p = memalign(alignment, size);
    if (p == nullptr) {
        return 12; // ENOMEM
    }
    *out = p;
    return 0;
}
}
