#pragma once

// Real local servers for the checker tests: all on 127.0.0.1 with port 0,
// started and stopped by the tests themselves. Every wait is bounded.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dplb/hc/prober.h"

namespace dplb::hc::test {

inline const conf::Ipv4 kLoopback = conf::Ipv4::fromOctets(127, 0, 0, 1);

// Runs one probe and waits (bounded) for its verdict.
inline ProbeResult probeOnce(Prober& prober, ProbeTarget target,
                             std::chrono::seconds bound = std::chrono::seconds(10)) {
  auto promise = std::make_shared<std::promise<ProbeResult>>();
  auto fut = promise->get_future();
  prober.submit(std::move(target), [promise](const ProbeResult& r) { promise->set_value(r); });
  if (fut.wait_for(bound) != std::future_status::ready) {
    throw std::runtime_error("probe did not complete within the bound");
  }
  return fut.get();
}

inline int boundSocket(int type, uint16_t* port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    throw std::runtime_error("bind");
  }
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// A thread serving one socket until stopped; `serveOne` handles a readable
// listening/datagram socket.
class ServerThread {
 public:
  ~ServerThread() { stop(); }
  void run(int fd, std::function<void(int)> serveOne) {
    fd_ = fd;
    stopFd_ = eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this, serveOne] {
      for (;;) {
        pollfd pfd[2] = {{fd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0 || (pfd[1].revents & POLLIN) != 0) {
          return;
        }
        serveOne(fd_);
      }
    });
  }
  void stop() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(stopFd_, &one, sizeof(one));
      thread_.join();
      close(stopFd_);
      close(fd_);
    }
  }

 private:
  int fd_ = -1;
  int stopFd_ = -1;
  std::thread thread_;
};

// HTTP/1.x server: answers each request with `response(request)`; an empty
// answer means "say nothing, keep the connection open" (for timeouts).
class HttpServer {
 public:
  explicit HttpServer(std::function<std::string(const std::string&)> response)
      : response_(std::move(response)) {
    int fd = boundSocket(SOCK_STREAM, &port_);
    listen(fd, 64);
    server_.run(fd, [this](int lfd) {
      int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        return;
      }
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) {
          break;
        }
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        lastRequest_ = req;
      }
      std::string resp = response_(req);
      if (resp.empty()) {
        held_.push_back(c);  // the client times out; closed with the server
        return;
      }
      [[maybe_unused]] ssize_t n = write(c, resp.data(), resp.size());
      close(c);
    });
  }
  ~HttpServer() {
    server_.stop();
    for (int c : held_) {
      close(c);
    }
  }
  uint16_t port() const { return port_; }
  std::string lastRequest() {
    std::lock_guard lock(mu_);
    return lastRequest_;
  }

  static std::string reply(int status, const std::string& body, bool chunked = false) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: text/plain\r\n";
    if (chunked) {
      return head + "Transfer-Encoding: chunked\r\n\r\n" + hex(body.size()) + "\r\n" + body +
             "\r\n0\r\n\r\n";
    }
    return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  static std::string hex(size_t v) {
    char b[32];
    std::snprintf(b, sizeof(b), "%zx", v);
    return b;
  }
  std::function<std::string(const std::string&)> response_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::string lastRequest_;
  std::vector<int> held_;  // touched only by the server thread, then the destructor
  ServerThread server_;
};

// UDP server: answers each datagram with `reply(datagram)` (nullopt: silence).
class UdpServer {
 public:
  explicit UdpServer(std::function<std::vector<std::string>(const std::string&)> reply) {
    int fd = boundSocket(SOCK_DGRAM, &port_);
    server_.run(fd, [reply](int s) {
      char buf[2048];
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      ssize_t n = recvfrom(s, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        return;
      }
      for (const auto& r : reply(std::string(buf, static_cast<size_t>(n)))) {
        sendto(s, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  ServerThread server_;
};

// A port with nothing behind it: bound but never listening (TCP answers RST)
// or closed right after binding (UDP answers ICMP port unreachable).
inline uint16_t deadTcpPort(int* keepFd) {
  uint16_t port = 0;
  *keepFd = boundSocket(SOCK_STREAM, &port);
  return port;
}
inline uint16_t deadUdpPort() {
  uint16_t port = 0;
  close(boundSocket(SOCK_DGRAM, &port));
  return port;
}

// ---------------------------------------------------------- certificates --

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dplb-hc-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp");
    }
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

struct KeyPair {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~KeyPair() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

inline void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Makes an EC P-256 certificate for `cn` (SAN DNS:cn unless CA), valid from
// now+notBefore to now+notAfter seconds, signed by `issuer` (self if null).
inline void makeCert(KeyPair& out, const std::string& cn, const KeyPair* issuer, bool isCa,
                     long notBefore = -3600, long notAfter = 86400) {
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), notBefore);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), notAfter);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuerCert = issuer != nullptr ? issuer->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuerCert));
  if (isCa) {
    addExt(out.cert, issuerCert, NID_basic_constraints, "critical,CA:TRUE");
    addExt(out.cert, issuerCert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(out.cert, issuerCert, NID_basic_constraints, "CA:FALSE");
    addExt(out.cert, issuerCert, NID_subject_alt_name, ("DNS:" + cn).c_str());
    addExt(out.cert, issuerCert, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  X509_sign(out.cert, issuer != nullptr ? issuer->key : out.key, EVP_sha256());
}

inline void writePem(const KeyPair& kp, const std::string& certPath, const std::string& keyPath) {
  FILE* f = std::fopen(certPath.c_str(), "w");
  PEM_write_X509(f, kp.cert);
  std::fclose(f);
  f = std::fopen(keyPath.c_str(), "w");
  PEM_write_PrivateKey(f, kp.key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// A server program started by the test that prints the port it bound (we ask
// for port 0): the port is the number that follows `marker` on its stdout.
class SpawnedServer {
 public:
  SpawnedServer(std::vector<std::string> args, const std::string& marker) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int rc = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    outFd_ = pipefd[0];
    if (rc != 0) {
      throw std::runtime_error("cannot run " + args[0]);
    }
    std::string out;
    char c;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // Earlier lines ("Using default temp DH parameters") are skipped.
    while (out.find(marker) == std::string::npos || out.back() != '\n') {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      pollfd p{outFd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0 || read(outFd_, &c, 1) != 1) {
        break;
      }
      out.push_back(c);
    }
    // The pipe stays open (closing it could SIGPIPE the server); the little
    // it writes later fits the pipe buffer.
    size_t at = out.find(marker);
    if (at == std::string::npos || out.back() != '\n') {
      stopChild();
      throw std::runtime_error(args[0] + " did not start: " + out);
    }
    port_ = static_cast<uint16_t>(std::stoi(out.substr(at + marker.size())));
  }
  ~SpawnedServer() { stopChild(); }
  uint16_t port() const { return port_; }

 private:
  void stopChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
    if (outFd_ >= 0) {
      close(outFd_);
      outFd_ = -1;
    }
  }

  pid_t pid_ = -1;
  int outFd_ = -1;
  uint16_t port_ = 0;
};

// `openssl s_server -www` (answers GET with a 200 status page) on 127.0.0.1.
inline std::unique_ptr<SpawnedServer> startSServer(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-www"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<SpawnedServer>(args, "ACCEPT 127.0.0.1:");
}

// `python3 -m http.server` serving `dir` on 127.0.0.1.
inline std::unique_ptr<SpawnedServer> startPythonHttp(const std::string& dir) {
  return std::make_unique<SpawnedServer>(
      std::vector<std::string>{"python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", dir},
      " port ");
}

inline std::string writeScript(const TempDir& dir, const std::string& name,
                               const std::string& body) {
  std::string path = dir.file(name);
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  chmod(path.c_str(), 0755);
  return path;
}

}  // namespace dplb::hc::test
