#include "dplb/metrics/exposer.h"

#include <civetweb.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <exception>
#include <mutex>

namespace dplb::metrics {
namespace {

// The format version Prometheus negotiates for the text format.
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

int logMessage(const mg_connection* /*conn*/, const char* message) {
  spdlog::warn("metrics: {}", message);
  return 1;  // logged here; civetweb prints nothing itself
}

void sendPlain(mg_connection* conn, int status, const char* reason, std::string_view body,
               bool head) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            status, reason, body.size());
  if (!head) {
    mg_write(conn, body.data(), body.size());
  }
}

}  // namespace

Exposer::~Exposer() {
  stop();
}

std::string Exposer::start(const conf::Endpoint& listen, Render render) {
  if (ctx_ != nullptr) {
    return "metrics exposer already started";
  }
  static std::once_flag libraryInit;
  std::call_once(libraryInit, [] { mg_init_library(0); });
  render_ = std::move(render);
  const std::string ports = listen.str();
  const std::string threads = std::to_string(kThreads);
  // No document_root: civetweb serves no files, only the handler below.
  const char* options[] = {"listening_ports",    ports.c_str(), "num_threads", threads.c_str(),
                           "request_timeout_ms", "10000",       nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof callbacks);
  callbacks.log_message = &logMessage;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char text[256] = "";
  mg_error_data error{};
  error.text = text;
  error.text_buffer_size = sizeof text;
  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    return fmt::format("metrics.listen: cannot serve on {}: {}", ports,
                       text[0] != '\0' ? text : "civetweb failed to start");
  }
  mg_server_port bound[4];
  const int n = mg_get_server_ports(ctx_, 4, bound);
  if (n < 1) {
    stop();
    return fmt::format("metrics.listen: no port bound for {}", ports);
  }
  bound_ = fmt::format("{}:{}", listen.addr.str(), bound[0].port);
  // "$" anchors the pattern: /metrics only, not /metrics/anything.
  mg_set_request_handler(ctx_, "/metrics$", &Exposer::handle, this);
  return {};
}

void Exposer::stop() {
  if (ctx_ != nullptr) {
    mg_stop(ctx_);  // returns after the server's threads have finished
    ctx_ = nullptr;
  }
}

int Exposer::handle(mg_connection* conn, void* self) {
  auto* exposer = static_cast<Exposer*>(self);
  const mg_request_info* req = mg_get_request_info(conn);
  const bool head = std::strcmp(req->request_method, "HEAD") == 0;
  if (!head && std::strcmp(req->request_method, "GET") != 0) {
    sendPlain(conn, 405, "Method Not Allowed", "only GET and HEAD\n", false);
    return 405;
  }
  std::string body;
  try {
    body = exposer->render_();
  } catch (const std::exception& e) {
    // Never through civetweb's C frames; a failed scrape is a 500.
    spdlog::error("metrics: scrape failed: {}", e.what());
    sendPlain(conn, 500, "Internal Server Error", "scrape failed\n", head);
    return 500;
  }
  exposer->scrapes_.fetch_add(1, std::memory_order_relaxed);
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            kContentType, body.size());
  if (!head) {
    mg_write(conn, body.data(), body.size());
  }
  return 200;
}

}  // namespace dplb::metrics
