// A fault-injection library for the provision kill test (LD_PRELOAD): every call
// that changes the filesystem (open for writing, fopen "w", rename, link, unlink,
// mkdir, rmdir, chown, chmod, symlink) in the agent and in the tools it spawns
// (useradd, chpasswd, ... the real shadow-utils) is one numbered point, counted across
// all those processes. Before point N (the number in kill.at) the process SIGKILLs
// its guestkit-* ancestors (the agent) and then its own process group (a tool and its
// children; core::run makes each tool a group leader), so the call never happens:
// the provision dies there, as under an OOM kill or a power cut of the process tree.
//
// Its control files sit next to the library file (the test copies it into a temp
// directory): kill.at (N, 0 = never), kill.count (the counter, under flock) and
// kill.log ("N comm what path" per point). It uses raw syscalls for its own I/O, so
// it never counts itself.

#undef _FORTIFY_SOURCE  // its inline wrappers of open() would clash with ours
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

char dir_[PATH_MAX];
// Opened when the library loads: shadow-utils' --root chroots into the temp root
// right away, and then neither the control files nor /proc have these names.
int count_fd_ = -1, at_fd_ = -1, log_fd_ = -1, proc_fd_ = -1;

int raw_open(const char* path, int flags, mode_t mode) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, mode);
}

long read_number(int fd) {
  char buf[32] = {0};
  if (lseek(fd, 0, SEEK_SET) != 0) return 0;
  long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  return n > 0 ? strtol(buf, NULL, 10) : 0;
}

void control_path(char* out, const char* name) {
  if (!dir_[0]) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&control_path), &info) && info.dli_fname) {
      snprintf(dir_, sizeof dir_, "%s", info.dli_fname);
      char* slash = strrchr(dir_, '/');
      if (slash) *slash = 0;
    }
  }
  const size_t d = strlen(dir_), n = strlen(name);
  if (d + 1 + n >= PATH_MAX) {
    out[0] = 0;
    return;
  }
  memcpy(out, dir_, d);
  out[d] = '/';
  memcpy(out + d + 1, name, n + 1);
}

int proc_open(const char* path) {
  return (int)syscall(SYS_openat, proc_fd_, path, O_RDONLY | O_CLOEXEC, 0);
}

void comm_of(pid_t pid, char* out, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "%d/comm", (int)pid);
  out[0] = 0;
  int fd = proc_open(path);
  if (fd < 0) return;
  ssize_t n = syscall(SYS_read, fd, out, size - 1);
  syscall(SYS_close, fd);
  out[n > 0 ? n : 0] = 0;
  char* nl = strchr(out, '\n');
  if (nl) *nl = 0;
}

pid_t parent_of(pid_t pid) {
  char path[64], buf[512] = {0};
  snprintf(path, sizeof path, "%d/stat", (int)pid);
  int fd = proc_open(path);
  if (fd < 0) return 0;
  ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return 0;
  char* close_paren = strrchr(buf, ')');  // comm may hold spaces
  if (!close_paren) return 0;
  char state;
  int ppid = 0;
  if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return 0;
  return (pid_t)ppid;
}

void kill_tree(void) {
  // The guestkit ancestors first (the agent that spawned this tool), then this
  // process group if this process leads one (a tool), else this process alone.
  char comm[64];
  for (pid_t p = parent_of(getpid()); p > 1; p = parent_of(p)) {
    comm_of(p, comm, sizeof comm);
    if (strncmp(comm, "guestkit-", 9) != 0) break;
    kill(p, SIGKILL);
  }
  if (getpgrp() == getpid()) kill(0, SIGKILL);
  kill(getpid(), SIGKILL);
}

__attribute__((constructor)) void load() {
  char file[PATH_MAX];
  control_path(file, "kill.count");
  count_fd_ = raw_open(file, O_RDWR | O_CREAT, 0600);
  control_path(file, "kill.at");
  at_fd_ = raw_open(file, O_RDONLY, 0);
  control_path(file, "kill.log");
  log_fd_ = raw_open(file, O_WRONLY | O_CREAT | O_APPEND, 0600);
  proc_fd_ = raw_open("/proc", O_RDONLY | O_DIRECTORY, 0);
}

void point(const char* what, const char* path) {
  const int fd = count_fd_;
  if (fd < 0) return;
  flock(fd, LOCK_EX);
  long n = read_number(fd) + 1;
  char buf[32];
  int len = snprintf(buf, sizeof buf, "%ld\n", n);
  lseek(fd, 0, SEEK_SET);
  syscall(SYS_ftruncate, fd, 0);
  syscall(SYS_write, fd, buf, len);
  const long at = at_fd_ >= 0 ? read_number(at_fd_) : 0;
  char comm[64], line[PATH_MAX + 128];
  comm_of(getpid(), comm, sizeof comm);
  len = snprintf(line, sizeof line, "%ld %s %s %s%s\n", n, comm[0] ? comm : "?", what,
                 path ? path : "-", n == at ? " KILLED" : "");
  if (log_fd_ >= 0 && len > 0 && (size_t)len < sizeof line) syscall(SYS_write, log_fd_, line, len);
  // Killed with the counter lock held: the kernel releases it with the process.
  if (n == at) kill_tree();
  flock(fd, LOCK_UN);
}

#define REAL(name) (reinterpret_cast<decltype(&name)>(::dlsym(RTLD_NEXT, #name)))

bool writes(int flags) {
  return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
}

}  // namespace

extern "C" {

#define OPEN_LIKE(fn)                        \
  int fn(const char* path, int flags, ...) { \
    mode_t mode = 0;                         \
    if (flags & (O_CREAT | __O_TMPFILE)) {   \
      va_list ap;                            \
      va_start(ap, flags);                   \
      mode = va_arg(ap, mode_t);             \
      va_end(ap);                            \
    }                                        \
    if (writes(flags)) point(#fn, path);     \
    return REAL(fn)(path, flags, mode);      \
  }
OPEN_LIKE(open)
OPEN_LIKE(open64)

#define OPENAT_LIKE(fn)                                 \
  int fn(int dirfd, const char* path, int flags, ...) { \
    mode_t mode = 0;                                    \
    if (flags & (O_CREAT | __O_TMPFILE)) {              \
      va_list ap;                                       \
      va_start(ap, flags);                              \
      mode = va_arg(ap, mode_t);                        \
      va_end(ap);                                       \
    }                                                   \
    if (writes(flags)) point(#fn, path);                \
    return REAL(fn)(dirfd, path, flags, mode);          \
  }
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

FILE* fopen(const char* path, const char* mode) {
  if (mode && mode[0] != 'r') point("fopen", path);
  return REAL(fopen)(path, mode);
}
FILE* fopen64(const char* path, const char* mode) {
  if (mode && mode[0] != 'r') point("fopen64", path);
  return REAL(fopen64)(path, mode);
}

int rename(const char* a, const char* b) __THROW {
  point("rename", b);
  return REAL(rename)(a, b);
}
int renameat(int da, const char* a, int db, const char* b) __THROW {
  point("renameat", b);
  return REAL(renameat)(da, a, db, b);
}
int renameat2(int da, const char* a, int db, const char* b, unsigned flags) __THROW {
  point("renameat2", b);
  return REAL(renameat2)(da, a, db, b, flags);
}
int link(const char* a, const char* b) __THROW {
  point("link", b);
  return REAL(link)(a, b);
}
int linkat(int da, const char* a, int db, const char* b, int flags) __THROW {
  point("linkat", b);
  return REAL(linkat)(da, a, db, b, flags);
}
int symlink(const char* a, const char* b) __THROW {
  point("symlink", b);
  return REAL(symlink)(a, b);
}
int symlinkat(const char* a, int d, const char* b) __THROW {
  point("symlinkat", b);
  return REAL(symlinkat)(a, d, b);
}
int unlink(const char* p) __THROW {
  point("unlink", p);
  return REAL(unlink)(p);
}
int unlinkat(int d, const char* p, int flags) __THROW {
  point("unlinkat", p);
  return REAL(unlinkat)(d, p, flags);
}
int rmdir(const char* p) __THROW {
  point("rmdir", p);
  return REAL(rmdir)(p);
}
int mkdir(const char* p, mode_t m) __THROW {
  point("mkdir", p);
  return REAL(mkdir)(p, m);
}
int mkdirat(int d, const char* p, mode_t m) __THROW {
  point("mkdirat", p);
  return REAL(mkdirat)(d, p, m);
}
int chown(const char* p, uid_t u, gid_t g) __THROW {
  point("chown", p);
  return REAL(chown)(p, u, g);
}
int lchown(const char* p, uid_t u, gid_t g) __THROW {
  point("lchown", p);
  return REAL(lchown)(p, u, g);
}
int fchown(int fd, uid_t u, gid_t g) __THROW {
  point("fchown", NULL);
  return REAL(fchown)(fd, u, g);
}
int fchownat(int d, const char* p, uid_t u, gid_t g, int flags) __THROW {
  point("fchownat", p);
  return REAL(fchownat)(d, p, u, g, flags);
}
int chmod(const char* p, mode_t m) __THROW {
  point("chmod", p);
  return REAL(chmod)(p, m);
}
int fchmod(int fd, mode_t m) __THROW {
  point("fchmod", NULL);
  return REAL(fchmod)(fd, m);
}
int fchmodat(int d, const char* p, mode_t m, int flags) __THROW {
  point("fchmodat", p);
  return REAL(fchmodat)(d, p, m, flags);
}

}  // extern "C"
