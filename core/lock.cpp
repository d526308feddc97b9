#include "core/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "core/paths.hpp"

namespace guestkit::core {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{1};
constexpr milliseconds kMaxBackoff{50};
// Longer timeouts are clamped so that now + timeout cannot overflow the clock.
constexpr milliseconds kMaxTimeout = std::chrono::hours(24 * 365);

// The name becomes a file name: no '/', no leading '.', nothing a shell or a log
// line would trip on.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == '@' || c == ':' || c == '-';
  });
}

}  // namespace

Result<Lock> Lock::acquire(const Root& root, std::string_view name_in, milliseconds timeout,
                           Mode mode) {
  const auto deadline = Clock::now() + std::clamp(timeout, milliseconds(0), kMaxTimeout);
  std::string name(name_in);
  if (!valid_name(name)) return make_error(Errc::bad_input, "lock name '" + name + "'");
  const std::string context = "lock " + name;

  auto dir = root.mkdirs(paths::kLockDir, 0700, Follow::never);
  if (!dir) return std::move(dir).error();
  // openat on the directory mkdirs just checked, not a second walk by name: nothing
  // can be swapped in between. O_NOFOLLOW: a planted symlink is never created through.
  std::string file = name + ".lock";
  int raw = ::openat(dir->get(), file.c_str(),
                     O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (raw < 0) {
    if (errno == ELOOP) return make_error(Errc::symlink_refused, context);
    return errno_error(context);
  }
  UniqueFd fd(raw);
  // A FIFO, device or hard link planted at the name is not our lock file.
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return errno_error(context);
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1) return make_error(Errc::unsafe, context);

  const int op = (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  auto backoff = kFirstBackoff;
  for (;;) {
    if (::flock(fd.get(), op) == 0) return Lock(std::move(name), std::move(fd));
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return errno_error(context);
    auto now = Clock::now();
    if (now >= deadline) return make_error(Errc::timed_out, context);
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    unlock();
    name_ = std::move(other.name_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

void Lock::unlock() noexcept {
  // Closing would release it too (we never dup the fd); unlocking first makes the
  // release explicit and independent of any copy a child might hold.
  if (fd_) ::flock(fd_.get(), LOCK_UN);
  fd_.reset();
}

}  // namespace guestkit::core
