#include "core/netlink.hpp"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <type_traits>

#include "core/fd.hpp"

namespace guestkit::core::netlink {
namespace {

using Clock = std::chrono::steady_clock;

// Big enough for a full dump message batch; the kernel sizes its own to the page.
constexpr std::size_t kRecvBuffer = 64 * 1024;

class Socket {
 public:
  static Result<Socket> open(unsigned groups = 0) {
    UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd) return errno_error("netlink socket");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = groups;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
      return errno_error("netlink bind");
    return Socket(std::move(fd));
  }
  int fd() const { return fd_.get(); }

  Status send(nlmsghdr* msg) {
    msg->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do
      n = ::sendto(fd_.get(), msg, msg->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                   sizeof kernel);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno_error("netlink send");
    return {};
  }

  // Reads the answers to the last request until NLMSG_DONE (dumps) or the ack
  // (NLMSG_ERROR, error 0), handing every other message to `visit`.
  Status receive(const std::function<void(const nlmsghdr*)>& visit, const char* what) {
    std::vector<char> buffer(kRecvBuffer);
    for (;;) {
      ssize_t n;
      do n = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
      while (n < 0 && errno == EINTR);
      if (n < 0) return errno_error(what);
      auto len = static_cast<unsigned>(n);
      for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_) continue;  // a late answer to something else
        if (h->nlmsg_type == NLMSG_DONE) return {};
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          if (err->error == 0) return {};
          return errno_error(what, -err->error);
        }
        visit(h);
      }
    }
  }

 private:
  explicit Socket(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::uint32_t seq_ = 0;
};

// A request: header, fixed part, then attributes, in one aligned buffer.
template <class Body>
class Request {
 public:
  Request(std::uint16_t type, std::uint16_t flags) {
    header()->nlmsg_len = NLMSG_LENGTH(sizeof(Body));
    header()->nlmsg_type = type;
    header()->nlmsg_flags = flags;
  }
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }
  Body& body() { return *static_cast<Body*>(NLMSG_DATA(header())); }

  void add(std::uint16_t type, const void* data, std::size_t size) {
    const std::size_t at = NLMSG_ALIGN(header()->nlmsg_len);
    auto* rta = reinterpret_cast<rtattr*>(buffer_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(size));
    std::memcpy(buffer_.data() + at + RTA_LENGTH(0), data, size);
    header()->nlmsg_len = static_cast<std::uint32_t>(at + RTA_ALIGN(rta->rta_len));
  }
  template <class T>
  void add(std::uint16_t type, const T& value) {
    add(type, &value, sizeof value);
  }

 private:
  alignas(nlmsghdr) std::array<char, 512> buffer_{};
};

template <class Fixed>
void for_each_attr(const nlmsghdr* h, std::size_t fixed_len,
                   const std::function<void(const rtattr*)>& visit) {
  const auto* fixed = static_cast<const Fixed*>(NLMSG_DATA(h));
  auto len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(fixed_len));
  for (const auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(fixed) +
                                                       NLMSG_ALIGN(fixed_len));
       RTA_OK(a, len); a = RTA_NEXT(a, len))
    visit(a);
}

std::optional<Ipv4> attr_ipv4(const rtattr* a) {
  if (RTA_PAYLOAD(a) < 4) return std::nullopt;
  Ipv4 ip;
  std::memcpy(&ip.be, RTA_DATA(a), 4);
  return ip;
}

std::uint32_t attr_u32(const rtattr* a) {
  std::uint32_t v = 0;
  if (RTA_PAYLOAD(a) >= sizeof v) std::memcpy(&v, RTA_DATA(a), sizeof v);
  return v;
}

std::optional<Ipv4Address> parse_address(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg)))
    return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET) return std::nullopt;
  Ipv4Address out;
  out.ifindex = static_cast<int>(ifa->ifa_index);
  out.prefix_len = ifa->ifa_prefixlen;
  out.scope = ifa->ifa_scope;
  bool have = false;
  for_each_attr<ifaddrmsg>(h, sizeof(ifaddrmsg), [&](const rtattr* a) {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on p2p links.
    if (a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && !have)) {
      if (auto ip = attr_ipv4(a)) {
        out.address = *ip;
        have = true;
      }
    }
  });
  if (!have) return std::nullopt;
  return out;
}

std::optional<Link> parse_link(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg)))
    return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  Link l;
  l.index = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  for_each_attr<ifinfomsg>(h, sizeof(ifinfomsg), [&](const rtattr* a) {
    if (a->rta_type == IFLA_IFNAME)
      l.name.assign(static_cast<const char*>(RTA_DATA(a)),
                    ::strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
  });
  return l;
}

// IPv4 unicast routes of the main table only.
std::optional<Ipv4Route> parse_route(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return std::nullopt;
  const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
  if (rt->rtm_family != AF_INET || rt->rtm_type != RTN_UNICAST) return std::nullopt;
  Ipv4Route route;
  route.dst_len = rt->rtm_dst_len;
  route.table = rt->rtm_table;
  route.protocol = rt->rtm_protocol;
  route.type = rt->rtm_type;
  for_each_attr<rtmsg>(h, sizeof(rtmsg), [&](const rtattr* a) {
    switch (a->rta_type) {
      case RTA_DST:
        if (auto ip = attr_ipv4(a)) route.dst = *ip;
        break;
      case RTA_GATEWAY:
        route.gateway = attr_ipv4(a);
        break;
      case RTA_OIF:
        route.ifindex = static_cast<int>(attr_u32(a));
        break;
      case RTA_PRIORITY:
        route.priority = attr_u32(a);
        break;
      case RTA_TABLE:  // the full 32-bit table id; rtm_table holds only 8 bits
        route.table = attr_u32(a);
        break;
    }
  });
  if (route.table != kMainTable) return std::nullopt;
  return route;
}

// One dump request (`setup` fills its fixed header) and every reply `parse` accepts.
template <class Body, class Parse>
auto dump(Socket& sock, std::uint16_t type, void (*setup)(Body&), Parse parse, const char* what)
    -> Result<std::vector<typename std::invoke_result_t<Parse, const nlmsghdr*>::value_type>> {
  Request<Body> req(type, NLM_F_REQUEST | NLM_F_DUMP);
  setup(req.body());
  if (auto s = sock.send(req.header()); !s) return std::move(s).error();
  std::vector<typename std::invoke_result_t<Parse, const nlmsghdr*>::value_type> out;
  auto r = sock.receive(
      [&](const nlmsghdr* h) {
        if (auto item = parse(h)) out.push_back(std::move(*item));
      },
      what);
  if (!r) return std::move(r).error();
  return out;
}

Result<std::vector<Ipv4Address>> dump_addresses(Socket& sock) {
  return dump<ifaddrmsg>(
      sock, RTM_GETADDR, +[](ifaddrmsg& b) { b.ifa_family = AF_INET; }, parse_address,
      "netlink dump addresses");
}

}  // namespace

std::optional<Ipv4> Ipv4::parse(std::string_view dotted) {
  in_addr a{};
  std::string s(dotted);
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return Ipv4{a.s_addr};
}

std::string Ipv4::str() const {
  char buf[INET_ADDRSTRLEN];
  in_addr a{};
  a.s_addr = be;
  return ::inet_ntop(AF_INET, &a, buf, sizeof buf) ? buf : "?";
}

std::uint32_t Ipv4::host() const {
  return ntohl(be);
}

std::string Ipv4Route::describe() const {
  std::string s = dst_len == 0 ? "default" : dst.str() + "/" + std::to_string(dst_len);
  if (gateway) s += " via " + gateway->str();
  s += " dev #" + std::to_string(ifindex) + " metric " + std::to_string(priority);
  return s;
}

Result<std::vector<Link>> list_links() {
  auto sock = Socket::open();
  if (!sock) return std::move(sock).error();
  return dump<ifinfomsg>(
      *sock, RTM_GETLINK, +[](ifinfomsg& b) { b.ifi_family = AF_UNSPEC; }, parse_link,
      "netlink dump links");
}

Result<std::vector<Ipv4Address>> list_ipv4_addresses() {
  auto sock = Socket::open();
  if (!sock) return std::move(sock).error();
  return dump_addresses(*sock);
}

Result<std::vector<Ipv4Route>> list_ipv4_routes() {
  auto sock = Socket::open();
  if (!sock) return std::move(sock).error();
  return dump<rtmsg>(
      *sock, RTM_GETROUTE, +[](rtmsg& b) { b.rtm_family = AF_INET; }, parse_route,
      "netlink dump routes");
}

namespace {

// Add and delete name a route by the same fields; they differ in the message type,
// flags, the protocol recorded (none for a delete) and the scope ("any" for a delete).
Status route_request(std::uint16_t type, std::uint16_t flags, unsigned char protocol,
                     unsigned char scope, const Ipv4Route& route, const char* verb) {
  auto sock = Socket::open();
  if (!sock) return std::move(sock).error();
  Request<rtmsg> req(type, flags);
  req.body().rtm_family = AF_INET;
  req.body().rtm_dst_len = static_cast<unsigned char>(route.dst_len);
  req.body().rtm_table =
      static_cast<unsigned char>(route.table < 256 ? route.table : RT_TABLE_UNSPEC);
  req.body().rtm_protocol = protocol;
  req.body().rtm_scope = scope;
  req.body().rtm_type = RTN_UNICAST;
  req.add(RTA_TABLE, route.table);
  if (route.dst_len > 0) req.add(RTA_DST, route.dst.be);
  if (route.ifindex > 0) req.add(RTA_OIF, static_cast<std::uint32_t>(route.ifindex));
  if (route.gateway) req.add(RTA_GATEWAY, route.gateway->be);
  req.add(RTA_PRIORITY, route.priority);
  if (auto s = sock->send(req.header()); !s) return std::move(s).error();
  return sock->receive([](const nlmsghdr*) {}, (std::string(verb) + " " + route.describe()).c_str());
}

}  // namespace

Status delete_route(const Ipv4Route& route) {
  return route_request(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, RTPROT_UNSPEC, RT_SCOPE_NOWHERE,
                       route, "delete route");
}

Status add_route(const Ipv4Route& route) {
  return route_request(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                       RTPROT_DHCP, RT_SCOPE_UNIVERSE, route, "add route");
}

namespace {

// Subscribes to `groups`, then calls `look` (the state now: a dump), then hands every
// notification to `seen` until one of them answers true, `idle` does at a quiet tick
// (every `tick`), or `timeout` passes. An overrun notification queue (ENOBUFS) means
// some were lost: `look` runs again. Subscribed before looking, so nothing that
// happens in between is missed.
template <class T>
Result<std::optional<T>> watch(unsigned groups, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds tick,
                               const std::function<Result<std::optional<T>>()>& look,
                               const std::function<std::optional<T>(const nlmsghdr*)>& seen,
                               const std::function<std::optional<T>()>& idle) {
  const auto deadline = Clock::now() + timeout;
  auto events = Socket::open(groups);
  if (!events) return std::move(events).error();
  bool need_look = true;
  std::vector<char> buffer(kRecvBuffer);
  for (;;) {
    if (need_look) {
      auto now = look();
      if (!now) return std::move(now).error();
      if (*now) return now;
      need_look = false;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::optional<T>();
    const auto wait = std::min<long long>(left.count(), tick.count() > 0 ? tick.count() : 1 << 30);
    pollfd p{events->fd(), POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(wait, 1 << 30)));
    if (ready < 0 && errno != EINTR) return errno_error("poll netlink");
    if (ready == 0 && idle) {
      if (auto r = idle()) return std::optional<T>(std::move(*r));
    }
    if (ready <= 0) continue;
    ssize_t n = ::recv(events->fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS)
        need_look = true;  // notifications were dropped: look again
      else if (errno != EINTR && errno != EAGAIN)
        return errno_error("netlink receive");
      continue;
    }
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len))
      if (auto r = seen(h)) return std::optional<T>(std::move(*r));
    if (idle) {
      if (auto r = idle()) return std::optional<T>(std::move(*r));
    }
  }
}

}  // namespace

Result<std::optional<Ipv4Address>> wait_for_ipv4_address(int ifindex,
                                                         std::chrono::milliseconds timeout) {
  const auto global_on_link = [&](const Ipv4Address& a) {
    return a.ifindex == ifindex && a.scope == RT_SCOPE_UNIVERSE;
  };
  return watch<Ipv4Address>(
      RTMGRP_IPV4_IFADDR, timeout, std::chrono::milliseconds(0),
      [&]() -> Result<std::optional<Ipv4Address>> {
        auto dumper = Socket::open();
        if (!dumper) return std::move(dumper).error();
        auto now = dump_addresses(*dumper);
        if (!now) return std::move(now).error();
        auto it = std::find_if(now->begin(), now->end(), global_on_link);
        if (it != now->end()) return std::optional<Ipv4Address>(*it);
        return std::optional<Ipv4Address>();
      },
      [&](const nlmsghdr* h) -> std::optional<Ipv4Address> {
        auto a = parse_address(h);
        if (a && global_on_link(*a)) return a;
        return std::nullopt;
      },
      {});
}

Result<bool> wait_for_ipv4_default_route(int ifindex, std::chrono::milliseconds timeout,
                                         const std::function<bool()>& stop,
                                         std::chrono::milliseconds recheck) {
  const auto default_on_link = [&](const Ipv4Route& r) {
    return r.is_default() && r.ifindex == ifindex;
  };
  // The route there (true) or `stop` said so (false).
  auto found = watch<bool>(
      RTMGRP_IPV4_ROUTE, timeout, recheck,
      [&]() -> Result<std::optional<bool>> {
        auto now = list_ipv4_routes();
        if (!now) return std::move(now).error();
        if (std::any_of(now->begin(), now->end(), default_on_link)) return std::optional<bool>(true);
        if (stop && stop()) return std::optional<bool>(false);
        return std::optional<bool>();
      },
      [&](const nlmsghdr* h) -> std::optional<bool> {
        auto r = parse_route(h);
        if (r && default_on_link(*r)) return true;
        return std::nullopt;
      },
      [&]() -> std::optional<bool> {
        if (stop && stop()) return false;
        return std::nullopt;
      });
  if (!found) return std::move(found).error();
  return found->value_or(false);
}

}  // namespace guestkit::core::netlink
