#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "dplb/admin/cli.h"

namespace dplb::admin::test {

inline std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) {
    out.push_back(w);
  }
  return out;
}

// The invocation of a command line that must parse; fails the test otherwise.
inline Invocation parseOk(const std::string& line) {
  auto r = parseCommandLine(split(line));
  if (const auto* e = std::get_if<ParseError>(&r)) {
    ADD_FAILURE() << "`" << line << "` rejected: " << e->message;
    return {};
  }
  return std::get<Invocation>(r);
}

// The message of a command line that must be rejected.
inline std::string parseErr(const std::string& line) {
  auto r = parseCommandLine(split(line));
  if (const auto* e = std::get_if<ParseError>(&r)) {
    EXPECT_NE(e->exitCode, 0);
    return e->message;
  }
  ADD_FAILURE() << "`" << line << "` accepted: " << std::get<Invocation>(r).request.dump();
  return "";
}

}  // namespace dplb::admin::test
