#include "client/client_config.hpp"

#include "messages/auth_line.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace sb::client {

namespace {

/// The installed configuration (cmake --install, the .deb).
constexpr const char* installed_config = "/etc/switchboard/switchboard.ini";

std::string env(const char* name) {
  auto* value = std::getenv(name);
  return value != nullptr ? std::string{value} : std::string{};
}

/// HOST:PORT, [V6]:PORT, optionally after tcp://.
bool parse_addr(std::string text, std::string& host, uint16_t& port) {
  if (text.rfind("tcp://", 0) == 0)
    text.erase(0, 6);
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  auto port_text = text.substr(colon + 1);
  if (port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoul(port_text);
  if (n == 0 || n > 65535)
    return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(n);
  return !host.empty();
}

/// Reads the credential in `path` (at most 4 KiB, trimmed).
client_problem read_token(const std::string& path, std::string& token) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {"cannot read the credential file '" + path
              + "': " + std::strerror(errno),
            2};
  char buf[4096];
  auto n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  token = std::string{
    trim_credential(std::string_view{buf, n > 0 ? static_cast<size_t>(n) : 0})};
  if (token.empty() || !valid_auth_token(token))
    return {"the credential file '" + path
              + "' must hold one token (a line of printable characters "
                "without spaces)",
            2};
  return {};
}

/// The config file to read: named, from the environment, or installed.
std::string pick_config(const client_inputs& in, bool& named) {
  named = true;
  if (!in.config.empty())
    return in.config;
  if (auto x = env("SWITCHBOARD_CONFIG"); !x.empty())
    return x;
  named = false;
  return std::filesystem::exists(installed_config) ? installed_config : "";
}

std::string text_of(const caf::settings& raw, const char* key) {
  if (auto x = caf::get_if<std::string>(&raw, key))
    return std::string{*x};
  return {};
}

/// Host, port and the credential files from the daemon's config file.
client_problem read_config(const std::string& path, const client_inputs& in,
                           endpoint& ep, std::string& admin_file,
                           std::string& report_file) {
  if (auto why = untrusted_file(path); !why.empty())
    return {"refusing the config file '" + path + "': " + why, 2};
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw)
    return {"cannot read config file '" + path
              + "': " + caf::to_string(raw.error()),
            2};
  if (!in.host_given)
    if (auto host = text_of(*raw, "switchboard.host"); !host.empty())
      ep.host = host;
  if (!in.port_given)
    if (auto port = caf::get_if<int64_t>(&*raw, "switchboard.port");
        port && *port > 0 && *port <= 65535)
      ep.port = static_cast<uint16_t>(*port);
  admin_file = text_of(*raw, "switchboard.admin-token-file");
  if (admin_file.empty())
    admin_file = text_of(*raw, "switchboard.http-token-file");
  if (admin_file.empty())
    admin_file = "auth/admin.token";
  report_file = text_of(*raw, "switchboard.report-token-file");
  if (report_file.empty())
    report_file = "auth/report.token";
  return {};
}

} // namespace

std::string untrusted_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::strerror(errno);
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return "it belongs to another user";
  if ((st.st_mode & 022) != 0)
    return "other users may write it (chmod go-w)";
  auto folder = std::filesystem::path{path}.parent_path();
  if (folder.empty())
    folder = ".";
  struct stat dir {};
  if (::stat(folder.c_str(), &dir) == 0 && (dir.st_mode & S_IWOTH) != 0
      && (dir.st_mode & S_ISVTX) == 0)
    return "any user may replace it (its folder is writable by all)";
  return {};
}

client_problem resolve_client(const client_inputs& in, endpoint& ep,
                              client_sources& found) {
  auto addr = env("SWITCHBOARD_ADDR");
  bool addr_given = in.host_given || in.port_given;
  if (!addr_given && !addr.empty()) {
    if (!parse_addr(addr, ep.host, ep.port))
      return {"SWITCHBOARD_ADDR must be HOST:PORT, got '" + addr + "'", 2};
    addr_given = true;
  }
  client_inputs given = in;
  given.host_given = given.port_given = addr_given;
  bool named = false;
  auto config = pick_config(in, named);
  std::string admin_file;
  std::string report_file;
  if (!config.empty()) {
    if (named && !std::filesystem::exists(config))
      return {"config file '" + config + "' does not exist", 2};
    if (auto p = read_config(config, given, ep, admin_file, report_file);
        !p.message.empty())
      return p;
    found.config_file = config;
  }
  auto file = in.auth_file;
  if (file.empty())
    file = env("SWITCHBOARD_AUTH_FILE");
  if (file.empty()) {
    // The admin credential if this user may read it, else the report one.
    for (auto* candidate : {&admin_file, &report_file})
      if (!candidate->empty() && ::access(candidate->c_str(), R_OK) == 0) {
        file = *candidate;
        break;
      }
  }
  if (file.empty()) {
    if (!ep.tls_certificate.empty())
      return {}; // a client certificate is the credential
    return {"no credential: name the file that holds it with --auth-file "
            "FILE or SWITCHBOARD_AUTH_FILE (the daemon writes its "
            "admin-token-file and report-token-file at its first start; "
            "reading one needs the daemon's group)"
              + std::string{config.empty() ? ", or name the daemon's config "
                                             "with --config"
                                           : ""},
            2};
  }
  found.auth_file = file;
  return read_token(file, ep.token);
}

} // namespace sb::client
