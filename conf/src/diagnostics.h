#pragma once

// Shared by the YAML reader and the validator: where each key path sits in
// the file, and the list of errors found so far.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dplb/conf/loader.h"

namespace dplb::conf::detail {

struct Pos {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

// Key path -> position of its value in the file. The validator works on the
// typed model and names problems by key path; this map turns the path back
// into a position. A path that was never written in the file (a defaulted
// key) resolves to its nearest written ancestor, e.g. the map that lacks it.
//
// Logical paths: the validator may name a path with a "#tag" suffix
// ("services[0].scheduler_flags#sh-port") for something the model keeps
// differently from the file (a flag set in a list); the reader registers an
// alias to the real path ("services[0].scheduler_flags[1]"). Without an alias
// the part before '#' is used.
class SourceMap {
 public:
  void record(const std::string& path, Pos pos) { positions_.emplace(path, pos); }
  void alias(std::string logical, std::string real) {
    aliases_.emplace(std::move(logical), std::move(real));
  }

  // The path to show for `path` (alias resolved, tag removed).
  std::string displayPath(std::string_view path) const;
  // Position for a display path, walking up to the nearest recorded ancestor.
  Pos find(std::string_view path) const;

 private:
  std::unordered_map<std::string, Pos> positions_;
  std::unordered_map<std::string, std::string> aliases_;
};

// The parent of a key path: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
std::string_view parentPath(std::string_view path);

// Collects errors. `tainted(path)` tells the validator that something at or
// below `path` already failed to parse, so rules involving it are skipped
// rather than reported as a confusing follow-up.
class ErrorSink {
 public:
  ErrorSink(std::string file, const SourceMap* map) : file_(std::move(file)), map_(map) {}

  // An error at an explicit position (the reader knows the node).
  void add(Pos pos, std::string path, std::string message);
  // An error at a key path, positioned through the source map.
  void at(std::string_view path, std::string message);

  bool tainted(std::string_view path) const;
  // Something at `path` or an ancestor failed (the item as a whole is gone,
  // e.g. a list entry that is not a map, or a missing section).
  bool failed(std::string_view path) const;
  // Errors reported from now on (the validator's own) taint nothing: one
  // rule's finding must not silence another rule.
  void freezeTaint() { taintLimit_ = errors_.size(); }
  bool empty() const { return errors_.empty(); }

  // Errors sorted by position (stable: equal positions keep report order).
  std::vector<ConfigError> take();

 private:
  std::string file_;
  const SourceMap* map_;
  std::vector<ConfigError> errors_;
  size_t taintLimit_ = SIZE_MAX;
};

// Runs every cross-item rule on `config`, reporting into `sink`. Errors
// already in `sink` (the reader's) taint the paths they name.
void validate(const Config& config, ErrorSink& sink);

// Fills what the loader derives once the config is valid (a route's or
// neighbour's egress port when it is not named).
void resolve(Config& config);

}  // namespace dplb::conf::detail
