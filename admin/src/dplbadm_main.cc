// dplbadm: the ipvsadm-compatible client of dplbd's admin socket.
//
// Parsing and formatting live in dplb_admin (tested there); this file only
// picks the socket, sends the request and prints the reply. A command line
// error is reported before anything is sent (exit 2, as ipvsadm's fail(2));
// a daemon or socket error prints "dplbadm: ..." and exits 1.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "dplb/admin/cli.h"
#include "dplb/admin/format.h"
#include "dplb/control/admin_server.h"

#ifndef DPLB_VERSION
#define DPLB_VERSION "unknown"
#endif

namespace {

constexpr const char* kDefaultSocket = "/run/dplb/dplb.sock";

int daemonError(const nlohmann::json& reply) {
  std::cerr << "dplbadm: " << reply.value("error", std::string("request failed")) << "\n";
  if (reply.contains("errors") && reply["errors"].is_array()) {
    for (const auto& e : reply["errors"]) {
      std::cerr << "  " << (e.is_string() ? e.get<std::string>() : e.dump()) << "\n";
    }
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string socket;
  if (const char* env = std::getenv("DPLB_SOCKET"); env != nullptr && *env != '\0') {
    socket = env;
  }
  if (std::string err = dplb::admin::extractSocket(args, socket); !err.empty()) {
    std::cerr << err << "\n";
    return 2;
  }
  if (socket.empty()) {
    socket = kDefaultSocket;
  }

  auto parsed = dplb::admin::parseCommandLine(args, "dplbadm");
  if (const auto* err = std::get_if<dplb::admin::ParseError>(&parsed)) {
    std::cerr << err->message << "\n";
    return err->exitCode;
  }
  auto inv = std::get<dplb::admin::Invocation>(std::move(parsed));
  using dplb::admin::Command;
  if (inv.command == Command::kHelp) {
    std::cout << dplb::admin::usage("dplbadm", DPLB_VERSION);
    return 0;
  }
  if (inv.command == Command::kVersion) {
    std::cout << "dplbadm " DPLB_VERSION " (dplb, ipvsadm-compatible)\n";
    return 0;
  }
  if (inv.command == Command::kRestore) {
    const std::string input{std::istreambuf_iterator<char>(std::cin),
                            std::istreambuf_iterator<char>()};
    auto restore = dplb::admin::parseRestore(input);
    if (const auto* err = std::get_if<dplb::admin::ParseError>(&restore)) {
      std::cerr << err->message << "\n";
      return err->exitCode;
    }
    inv.request = std::get<dplb::admin::Invocation>(restore).request;
  }

  nlohmann::json reply;
  try {
    reply = dplb::control::adminRequest(socket, inv.request);
  } catch (const std::exception& e) {
    std::cerr << "dplbadm: " << e.what() << "\n";
    return 1;
  }
  if (!reply.is_object() || !reply.value("ok", false)) {
    return daemonError(reply.is_object() ? reply : nlohmann::json::object());
  }

  try {
    if (inv.command == Command::kList) {
      if (inv.format.connections) {
        std::cout << dplb::admin::formatConnections(reply);
      } else if (inv.format.timeout) {
        std::cout << dplb::admin::formatTimeout(reply);
      } else {
        std::cout << dplb::admin::formatList(reply, inv.format, DPLB_VERSION);
      }
    } else if (inv.command == Command::kSave) {
      std::cout << dplb::admin::formatSave(reply, inv.format);
    } else if (inv.command == Command::kStatus) {
      std::cout << dplb::admin::formatStatus(reply);
    }
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "dplbadm: malformed reply from dplbd: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
