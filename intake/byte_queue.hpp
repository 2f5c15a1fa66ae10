#pragma once

// A FIFO of bytes for what a socket did not accept yet: append at the back,
// consume from the front, contiguous so one send() takes all of it. Empty
// queues hold no memory, and a large one gives its memory back once drained,
// so thousands of idle connections cost nothing here.

#include <cstddef>
#include <cstring>
#include <memory>

namespace sb::intake {

class byte_queue {
public:
  size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  const char* data() const noexcept { return buf_.get() + begin_; }

  void append(const char* p, size_t n) {
    if (n == 0)
      return;
    if (cap_ - end_ < n)
      make_room(n);
    std::memcpy(buf_.get() + end_, p, n);
    end_ += n;
  }

  void consume(size_t n) noexcept {
    begin_ += n;
    if (begin_ != end_)
      return;
    begin_ = end_ = 0;
    // Keep a small buffer for the next burst; give a large one back.
    if (cap_ > keep_capacity) {
      buf_.reset();
      cap_ = 0;
    }
  }

  void release() noexcept {
    buf_.reset();
    cap_ = begin_ = end_ = 0;
  }

private:
  static constexpr size_t keep_capacity = 16 * 1024;

  void make_room(size_t n) {
    auto used = size();
    if (begin_ > 0 && cap_ - used >= n && begin_ >= used) {
      // Enough room once the consumed front is dropped; the copy is cheaper
      // than the bytes already sent.
      std::memmove(buf_.get(), buf_.get() + begin_, used);
    } else {
      auto cap = cap_ == 0 ? size_t{4096} : cap_;
      while (cap < used + n)
        cap *= 2;
      std::unique_ptr<char[]> fresh{new char[cap]};
      if (used > 0)
        std::memcpy(fresh.get(), buf_.get() + begin_, used);
      buf_ = std::move(fresh);
      cap_ = cap;
    }
    begin_ = 0;
    end_ = used;
  }

  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

} // namespace sb::intake
