#pragma once

// The admin socket: a UNIX stream socket carrying one JSON request and one
// JSON reply per connection, each a single line.
//
// Contract: start() creates the socket at `path` (its directory too, mode
// 0755), removes a stale socket left by a previous run, and makes it mode 0600
// so only root (the owner) can connect. A thread accepts connections and calls
// the handler for each well-formed request; malformed input (not JSON, not an
// object, too long, too slow) gets {"ok":false,"error":...} and never reaches
// the handler. A handler exception becomes an error reply: the daemon never
// dies of a request. stop() closes the socket and joins the thread.

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace dplb::control {

class AdminServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  AdminServer() = default;
  ~AdminServer() { stop(); }
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // "" on success, else the reason naming admin.socket.
  std::string start(const std::string& path, Handler handler);
  void stop();

 private:
  void serve();
  void handleClient(int fd);

  std::string path_;
  Handler handler_;
  int listenFd_ = -1;
  int wakeFd_[2] = {-1, -1};
  std::thread thread_;
};

// Client side (dplbadm, tests): sends `request`, returns the reply or throws
// std::runtime_error with a message naming the socket.
nlohmann::json adminRequest(const std::string& path, const nlohmann::json& request);

}  // namespace dplb::control
