// A published value (actors/published.hpp): what a reader loaded stays as it
// was, and alive, while the owner publishes; readers on other threads see
// whole values, each one published, in the order they were published.

#include "actors/published.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace sb;

namespace {

/// A value whose parts agree only if it was written whole; it counts the
/// copies alive.
struct version {
  static inline std::atomic<int> alive{0};

  version() : version(0) {
    // nop
  }

  explicit version(uint64_t n)
      : n(n), twice(2 * n), text(std::to_string(n)), items(n % 64, n) {
    ++alive;
  }

  version(const version& other)
      : n(other.n), twice(other.twice), text(other.text), items(other.items) {
    ++alive;
  }

  version& operator=(const version&) = delete;

  ~version() { --alive; }

  bool whole() const {
    if (twice != 2 * n || text != std::to_string(n) || items.size() != n % 64)
      return false;
    for (auto x : items)
      if (x != n)
        return false;
    return true;
  }

  uint64_t n;
  uint64_t twice;
  std::string text;
  std::vector<uint64_t> items;
};

} // namespace

TEST(published, holds_a_value_from_the_start_and_the_last_one_published) {
  published<version> none;
  ASSERT_NE(none.get(), nullptr);
  EXPECT_EQ(none.get()->n, 0u);
  published<version> x{version{7}};
  EXPECT_EQ(x.get()->n, 7u);
  x.publish(version{8});
  EXPECT_EQ(x.get()->n, 8u);
  // Publishing nothing changes nothing.
  x.publish(published<version>::pointer{});
  ASSERT_NE(x.get(), nullptr);
  EXPECT_EQ(x.get()->n, 8u);
}

TEST(published, a_reader_keeps_the_value_it_loaded_alive_and_unchanged) {
  auto before = version::alive.load();
  {
    published<version> x{version{1}};
    auto held = x.get();
    x.publish(version{2});
    x.publish(version{3});
    // The reader's value is the one it loaded; version 2, which nobody
    // held, is gone already.
    EXPECT_EQ(held->n, 1u);
    EXPECT_TRUE(held->whole());
    EXPECT_EQ(x.get()->n, 3u);
    EXPECT_EQ(version::alive.load(), before + 2);
    auto last = x.get();
    held.reset();
    EXPECT_EQ(version::alive.load(), before + 1);
    // A publication while the reader still holds version 3.
    x.publish(version{4});
    EXPECT_EQ(last->n, 3u);
    EXPECT_EQ(version::alive.load(), before + 2);
  }
  EXPECT_EQ(version::alive.load(), before);
}

TEST(published, readers_on_other_threads_see_whole_values_in_order) {
  constexpr uint64_t last = 20000;
  constexpr int readers = 3;
  auto before = version::alive.load();
  {
    published<version> x;
    std::atomic<int> torn{0};
    std::atomic<int> backwards{0};
    std::vector<uint64_t> loads(readers, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < readers; ++i)
      threads.emplace_back([&, i] {
        uint64_t seen = 0;
        // Until the last value: the writer publishes it in any case.
        while (seen < last) {
          auto v = x.get();
          if (!v->whole())
            ++torn;
          if (v->n < seen)
            ++backwards;
          seen = v->n;
          ++loads[static_cast<size_t>(i)];
        }
      });
    std::thread writer{[&] {
      for (uint64_t n = 1; n <= last; ++n)
        x.publish(version{n});
    }};
    writer.join();
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(torn.load(), 0);
    EXPECT_EQ(backwards.load(), 0);
    for (auto n : loads)
      EXPECT_GT(n, 0u);
    EXPECT_EQ(x.get()->n, last);
    // Only the current value is left.
    EXPECT_EQ(version::alive.load(), before + 1);
  }
  EXPECT_EQ(version::alive.load(), before);
}
