#pragma once

// Loading and validating dplbd configuration files.
//
// Contract: the loader never throws (I/O and YAML errors become
// ConfigErrors) and reports every problem it can find in one pass, sorted by
// position, instead of stopping at the first. A problem in one item does not
// produce follow-up errors in others (an invalid VIP is reported once, not
// again as a duplicate). `config` is set if and only if `errors` is empty.
//
// Positions are 1-based (yaml-cpp marks + 1). A problem with a value points at
// the value; an unknown or duplicate key points at the key; a missing key
// points at the map that lacks it; a conflict between items (duplicates)
// points at the later item.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dplb/conf/config.h"

namespace dplb::conf {

struct ConfigError {
  std::string file;  // as the caller named it; may be empty
  int line = 0;      // 1-based; 0 = no position known
  int column = 0;    // 1-based
  std::string path;  // key path, e.g. "services[0].real_servers[1].weight"; may be empty
  std::string message;

  // "demo.yaml:14:9: services[0].real_servers[1].weight: expected an integer
  // 0..65535, got "heavy"". Parts that are unknown are left out with their
  // separator ("demo.yaml: configuration is empty", "services[0]: ...").
  std::string str() const;

  bool operator==(const ConfigError&) const = default;
};

struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;

  bool ok() const { return config.has_value(); }
};

// Reads and validates the file at `path`; errors name the file as `path` is
// written.
LoadResult loadConfigFile(const std::string& path);

// Validates YAML text; errors name `fileName`.
LoadResult loadConfigString(std::string_view yaml, std::string fileName);

// The cross-item rules of the validator (duplicates, references, rules that
// tie fields together) applied to a Config built in code, e.g. by the admin
// CLI. Errors carry key paths but no file positions. The loader runs the same
// checks, so a loaded Config always passes.
std::vector<ConfigError> validateConfig(const Config& config);

}  // namespace dplb::conf
