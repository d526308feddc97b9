#pragma once
// Lock: a named flock(2) lock under /run/guestkit/lock, to serialise work on one
// object (two udev events for the same disk must not interleave). The kernel drops
// the lock when the holder dies, so a crashed helper never leaves a stale lock.

#include <chrono>
#include <string>
#include <string_view>

#include "core/fd.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

class Lock {  // movable, not copyable; unlocks and closes on destruction
 public:
  enum class Mode { exclusive, shared };

  // Locks /run/guestkit/lock/<name>.lock under `root`, creating the directory (0700)
  // and the file (0600) without following any symlink. `name` must match
  // ^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$ (Errc::bad_input otherwise). Waits up to
  // `timeout` (zero = try once); Errc::timed_out naming the lock when it expires.
  static Result<Lock> acquire(const Root& root, std::string_view name,
                              std::chrono::milliseconds timeout, Mode mode = Mode::exclusive);

  Lock(Lock&& other) noexcept = default;
  Lock& operator=(Lock&& other) noexcept;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() { unlock(); }

  const std::string& name() const { return name_; }

 private:
  Lock(std::string name, UniqueFd fd) : name_(std::move(name)), fd_(std::move(fd)) {}
  void unlock() noexcept;

  std::string name_;
  UniqueFd fd_;
};

}  // namespace guestkit::core
