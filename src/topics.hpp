// One event loop's topics (pub/sub): which of its connections subscribe
// to which topic. Internal; a member of every ConnectionContext, used on
// its loop's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "string_hash.hpp"

namespace parley {
class Connection;
}

namespace parley::detail {

/// Subscribers by topic and topics by connection, on one loop. A topic's
/// subscribers are a dense array of Connection pointers (publishing walks
/// it, nothing else), each connection remembers its place in the arrays of
/// its topics, so that leaving is O(own subscriptions), never a search of
/// a topic's subscribers. Subscribing or leaving while the topic is being
/// walked (a callback called during a publish) is safe: a leaver's slot is
/// emptied and the array compacted after the walk; a newcomer is not sent
/// the message being published.
class TopicTable {
 public:
  TopicTable() = default;
  TopicTable(const TopicTable&) = delete;
  TopicTable& operator=(const TopicTable&) = delete;

  /// Subscribes `c` (id `id`) to `topic`. False when it already was.
  /// With `pending` non-zero the subscription waits (a recovery replays
  /// first): it counts everywhere but publishing walks skip it until
  /// make_live() with the same `pending` token.
  bool add(Connection& c, std::uint64_t id, std::string_view topic, std::uint64_t pending = 0);
  /// Makes the pending subscription of `id` to `topic` made with `pending`
  /// live. False when there is no such one (left, or subscribed again).
  bool make_live(Connection& c, std::uint64_t id, std::string_view topic, std::uint64_t pending);
  /// Unsubscribes connection `id`. False when it was not subscribed.
  bool remove(std::uint64_t id, std::string_view topic);
  /// Unsubscribes connection `id` from everything; `left(topic)` is called
  /// for each topic it left.
  void remove_all(std::uint64_t id, const std::function<void(std::string_view)>& left);
  /// True when connection `id`'s subscription to `topic` is pending with `pending`.
  bool is_pending(std::uint64_t id, std::string_view topic, std::uint64_t pending) const;
  /// True when connection `id` subscribes to `topic`.
  bool contains(std::uint64_t id, std::string_view topic) const;
  /// The topics of connection `id`, in the order subscribed.
  std::vector<std::string> topics_of(std::uint64_t id) const;
  /// Subscribers of `topic` on this loop.
  std::size_t count(std::string_view topic) const;
  /// Topics with a subscriber on this loop.
  std::size_t size() const noexcept { return topics_.size(); }

  /// Calls `f(Connection&)` for every subscriber of `topic` at the time of
  /// the call.
  template <class F>
  void for_each_subscriber(std::string_view topic, F&& f) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    Topic& t = *it->second;
    // Ends the walk even when `f` throws (the loop goes on after that).
    struct Walk {
      TopicTable& table;
      Topic& topic;
      ~Walk() {
        if (--topic.walking == 0 && topic.holes != 0) table.compact(topic);
      }
    } walk{*this, t};
    ++t.walking;
    const std::size_t n = t.subscribers.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (Connection* c = t.subscribers[i].connection) f(*c);
    }
  }

 private:
  struct Topic;
  struct Subscriber {
    Connection* connection;  // null: left during a walk (a hole)
    std::uint64_t id;
  };
  struct Topic {
    std::string name;
    std::vector<Subscriber> subscribers;
    std::size_t pending = 0;  // pending subscriptions (not in `subscribers`)
    unsigned walking = 0;   // nested walks in progress
    std::size_t holes = 0;  // emptied slots waiting for the walk to end
  };
  struct Membership {
    Topic* topic;
    std::size_t index;          // in topic->subscribers (when live)
    std::uint64_t pending = 0;  // non-zero: a pending subscription's token
  };

  Membership* find_membership(std::uint64_t id, const Topic* topic) noexcept;
  void leave(const Membership& gone);
  void compact(Topic& t) noexcept;
  void erase_if_empty(Topic& t) noexcept;

  std::unordered_map<std::string, std::unique_ptr<Topic>, StringHash, std::equal_to<>> topics_;
  // A connection's subscriptions, by its id (most connections have none,
  // so Connection itself carries nothing for them).
  std::unordered_map<std::uint64_t, std::vector<Membership>> memberships_;
};

}  // namespace parley::detail
