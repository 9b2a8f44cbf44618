#include "dplb/control/admin_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace dplb::control {
namespace {

constexpr size_t kMaxRequest = 1 << 20;
constexpr int kClientTimeoutMs = 2000;

bool fillAddress(const std::string& path, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// MSG_NOSIGNAL: a client that hangs up before reading must not kill dplbd
// with SIGPIPE.
bool writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one line (or until EOF) within `timeoutMs` for the whole line, so a
// client trickling bytes cannot hold the admin thread. `ok` says whether a
// line was read; `why` says what went wrong otherwise.
std::string readLine(int fd, int timeoutMs, bool& ok, std::string& why) {
  std::string buf;
  ok = false;
  char chunk[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, POLLIN, 0};
    int r = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      why = "request timed out";
      return buf;
    }
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      why = std::string("read failed: ") + std::strerror(errno);
      return buf;
    }
    if (n == 0) {
      ok = !buf.empty();
      if (!ok) {
        why = "empty request";
      }
      return buf;
    }
    buf.append(chunk, static_cast<size_t>(n));
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      buf.resize(nl);
      ok = true;
      return buf;
    }
    if (buf.size() > kMaxRequest) {
      why = "request too long";
      return buf;
    }
  }
}

nlohmann::json errorReply(const std::string& why) {
  return nlohmann::json{{"ok", false}, {"error", why}};
}

}  // namespace

std::string AdminServer::start(const std::string& path, Handler handler) {
  stop();
  sockaddr_un addr;
  if (!fillAddress(path, addr)) {
    return "admin.socket: path \"" + path + "\" is too long for a UNIX socket";
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return "admin.socket: cannot create " + dir.string() + ": " + ec.message();
    }
  }
  // A socket file left by a previous run (nobody listening) is removed; a
  // live one means another dplbd owns the path.
  if (int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); probe >= 0) {
    if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      ::close(probe);
      return "admin.socket: " + path + " is in use by another process";
    }
    ::close(probe);
  }
  // Remove a stale socket, never anything else a mistyped path may name.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return "admin.socket: " + path + " exists and is not a socket";
    }
    ::unlink(path.c_str());
  }
  listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) {
    return std::string("admin.socket: socket(): ") + std::strerror(errno);
  }
  // Created with no permissions for anyone but the owner from the start.
  mode_t old = ::umask(0177);
  int rc = ::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(listenFd_, 16) != 0) {
    std::string err = "admin.socket: cannot listen on " + path + ": " + std::strerror(errno);
    ::close(listenFd_);
    listenFd_ = -1;
    return err;
  }
  if (::pipe2(wakeFd_, O_CLOEXEC) != 0) {
    ::close(listenFd_);
    listenFd_ = -1;
    return std::string("admin.socket: pipe(): ") + std::strerror(errno);
  }
  path_ = path;
  handler_ = std::move(handler);
  thread_ = std::thread([this] { serve(); });
  return {};
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    char c = 'x';
    (void)!::write(wakeFd_[1], &c, 1);
    thread_.join();
  }
  for (int* fd : {&listenFd_, &wakeFd_[0], &wakeFd_[1]}) {
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  }
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

void AdminServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {wakeFd_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0 || (fds[1].revents & POLLIN)) {
      return;
    }
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        // A client that never reads its reply cannot block the thread.
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        handleClient(fd);
        ::close(fd);
      }
    }
  }
}

void AdminServer::handleClient(int fd) {
  bool ok = false;
  std::string why;
  std::string line = readLine(fd, kClientTimeoutMs, ok, why);
  nlohmann::json reply;
  if (!ok) {
    reply = errorReply(why);
  } else {
    nlohmann::json req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded()) {
      reply = errorReply("request is not valid JSON");
    } else if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
      reply = errorReply("request must be a JSON object with a string \"cmd\"");
    } else {
      try {
        reply = handler_(req);
      } catch (const std::exception& e) {
        reply = errorReply(std::string("internal error: ") + e.what());
      }
    }
  }
  writeAll(fd, reply.dump() + "\n");
}

nlohmann::json adminRequest(const std::string& path, const nlohmann::json& request) {
  sockaddr_un addr;
  if (!fillAddress(path, addr)) {
    throw std::runtime_error("socket path too long: " + path);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket(): ") + std::strerror(errno));
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::string err = "cannot connect to " + path + ": " + std::strerror(errno);
    ::close(fd);
    throw std::runtime_error(err);
  }
  if (!writeAll(fd, request.dump() + "\n")) {
    ::close(fd);
    throw std::runtime_error("cannot send the request to " + path);
  }
  bool ok = false;
  std::string why;
  std::string line = readLine(fd, 10000, ok, why);
  ::close(fd);
  if (!ok) {
    throw std::runtime_error("no reply from " + path + ": " + why);
  }
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  if (reply.is_discarded()) {
    throw std::runtime_error("malformed reply from " + path);
  }
  return reply;
}

}  // namespace dplb::control
