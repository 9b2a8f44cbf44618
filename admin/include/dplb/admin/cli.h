#pragma once

// dplbadm's command line: ipvsadm's syntax turned into admin-socket requests.
//
// Contract: parseCommandLine() takes argv without the program name and either
// returns an Invocation (the command, the JSON request of PROTOCOL.md to send,
// and how to print the reply) or a ParseError carrying the message ipvsadm
// would print on stderr and the exit status. Nothing is validated that only
// the daemon can know (scheduler names, existing services); everything
// ipvsadm itself checks before talking to the kernel is checked here, with
// ipvsadm's wording, so an invalid command never reaches the daemon.
// parseRestore() reads a whole ipvsadm-save file into one atomic "restore"
// request, or rejects it naming the first bad line.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dplb::admin {

enum class Command {
  kAddService,
  kEditService,
  kDeleteService,
  kClear,
  kList,
  kAddServer,
  kEditServer,
  kDeleteServer,
  kSetTimeout,
  kRestore,
  kSave,
  kZero,
  kHelp,
  kVersion,
  kReload,
  kStatus,
};

// How a list reply is printed (ipvsadm's FMT_* flags plus what -L lists).
struct ListFormat {
  bool numeric = false;  // dplbadm never resolves names; kept for -S -n / -L -n parity
  bool stats = false;
  bool rate = false;
  bool exact = false;
  bool thresholds = false;
  bool persistentConn = false;
  bool noSort = false;
  bool connections = false;  // -L -c
  bool timeout = false;      // -L --timeout
  bool oneService = false;   // -L -t|-u addr:port: no version line
  bool operator==(const ListFormat&) const = default;
};

struct Invocation {
  Command command = Command::kList;
  // The request to send; null for commands answered locally (-h, --version)
  // and for -R, whose request comes from parseRestore() over stdin.
  nlohmann::json request;
  ListFormat format;
};

struct ParseError {
  std::string message;  // printed as is on stderr, followed by a newline
  int exitCode = 2;     // ipvsadm's fail(2, ...)
};

using ParseResult = std::variant<Invocation, ParseError>;

// `program` names the binary in the "Try `... -h'" hint.
ParseResult parseCommandLine(const std::vector<std::string>& args,
                             std::string_view program = "dplbadm");

// A whole ipvsadm-save file (what `ipvsadm -S -n` or `dplbadm -S -n` prints;
// blank lines and # comments are skipped) as {"cmd":"restore","commands":[...]}.
// Only -A -E -D -C -a -e -d -Z --set lines are accepted. On the first bad
// line the whole input is rejected: "restore: line N: <ipvsadm's message>".
ParseResult parseRestore(std::string_view text);

// The usage text of -h (stdout) or of a usage error.
std::string usage(std::string_view program, std::string_view version);

// Pulls `--socket PATH` / `--socket=PATH` out of args (anywhere on the line).
// Returns an error message when --socket lacks its argument, else "".
std::string extractSocket(std::vector<std::string>& args, std::string& socket);

}  // namespace dplb::admin
