#pragma once
// 02-apply-sysctl's parser of /etc/guestkit/sysctl.conf (sysctl.conf(5) syntax), pure so
// that the unit tests and the fuzzer (fuzz/sysctl_conf.cpp) reach it without a tree.

#include <string>
#include <string_view>
#include <vector>

namespace guestkit::plugins::boot {

struct SysctlSetting {
  std::string key;    // as written, without a leading '-'
  std::string path;   // "/proc/sys/net/ipv4/ip_forward": never a "." or ".." component
  std::string value;  // trimmed
  bool optional = false;  // a leading '-': a setting the kernel lacks is not an error
  int line = 0;
};

struct SysctlConf {
  std::vector<SysctlSetting> settings;
  std::vector<std::string> problems;  // "DISPLAY:LINE: why", one per bad line
};

SysctlConf parse_sysctl_conf(std::string_view text, std::string_view display);

}  // namespace guestkit::plugins::boot
