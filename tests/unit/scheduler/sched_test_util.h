#pragma once

// A test bed: one service's real servers, named "A", "B", ..., and one
// scheduler instance over them, driven the way the dataplane drives it.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dplb/sched/scheduler.h"

namespace dplb::sched::testing {

constexpr uint32_t ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

inline constexpr uint32_t kVip = ip(10, 0, 0, 100);

class Bed {
 public:
  explicit Bed(std::string_view sched, const SchedulerOptions& opts = {}) {
    SchedulerResult r = makeScheduler(sched, opts);
    if (!r) {
      ADD_FAILURE() << r.error;
      return;
    }
    sched_ = std::move(r.scheduler);
  }

  Scheduler& sched() { return *sched_; }

  // Server `name` ("A".."Z") lives at 10.0.1.<letter index + 1>:80.
  RealServer* add(std::string_view name, int32_t weight, uint32_t u = 0, uint32_t l = 0) {
    const auto octet = static_cast<uint32_t>(name[0] - 'A' + 1);
    owned_.push_back(
        std::make_unique<RealServer>(ip(10, 0, 1, octet), 80, ServerParams{weight, u, l}));
    RealServer* s = owned_.back().get();
    names_[s] = std::string(name);
    EXPECT_TRUE(sched_->addServer(s));
    return s;
  }

  void edit(RealServer* s, int32_t weight, uint32_t u = 0, uint32_t l = 0) {
    EXPECT_EQ(s->edit(ServerParams{weight, u, l}), ParamError::kNone);
    EXPECT_TRUE(sched_->updateServer(s));
  }

  void del(RealServer* s) { EXPECT_TRUE(sched_->removeServer(s)); }

  RealServer* pick(uint32_t client = ip(192, 168, 0, 1), uint16_t port = 40000, uint32_t dst = kVip,
                   Nanos now = Nanos{0}) {
    return sched_->pick(PickKey{client, port, dst, kProtoTcp}, now);
  }

  std::string name(const RealServer* s) const {
    if (s == nullptr) {
      return "none";
    }
    const auto it = names_.find(s);
    return it == names_.end() ? "?" : it->second;
  }

  // n picks with the same key, names space-separated ("C B A ...").
  std::string picks(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out += (i == 0 ? "" : " ") + name(pick());
    }
    return out;
  }

  // n new connections: pick, then bind the connection (inactive) as the
  // dataplane does.
  std::string conns(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      RealServer* s = pick();
      if (s != nullptr) {
        s->bindConn();
      }
      out += (i == 0 ? "" : " ") + name(s);
    }
    return out;
  }

 private:
  std::unique_ptr<Scheduler> sched_;
  std::vector<std::unique_ptr<RealServer>> owned_;
  std::map<const RealServer*, std::string> names_;
};

// Sets a server's counts directly through the connection API.
inline void load(RealServer* s, int active, int inactive) {
  for (int i = 0; i < active; ++i) {
    s->bindConn();
    s->connActivated();
  }
  for (int i = 0; i < inactive; ++i) {
    s->bindConn();
  }
}

}  // namespace dplb::sched::testing
