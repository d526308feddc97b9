/* bench/greeting_probe.c: the smallest client of the agent, for the agent-greeting
 * entry. It connects to 127.0.0.1:PORT, reads up to the end of the first line (the
 * greeting) and exits 0; nothing else, so that under hyperfine its time is an exec of
 * a tiny program (the "exec /bin/true" floor) plus spawn-to-greeting: xinetd's accept,
 * fork and exec, and the agent's start up to its greeting.
 *
 *   greeting_probe PORT      exit 0 once a whole line came, 1 otherwise
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(argv[1]));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return 1;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return 1;
    if (memchr(buf, '\n', (size_t)n)) return 0;
  }
}
