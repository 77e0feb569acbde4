// TopicTable: one loop's subscribers by topic.
#include "topics.hpp"

#include <algorithm>

namespace parley::detail {

bool TopicTable::add(Connection& c, std::uint64_t id, std::string_view topic, std::uint64_t pending) {
  if (contains(id, topic)) return false;
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    auto t = std::make_unique<Topic>();
    t->name.assign(topic);
    it = topics_.emplace(t->name, std::move(t)).first;
  }
  Topic& t = *it->second;
  if (pending != 0) {
    ++t.pending;
    memberships_[id].push_back({&t, 0, pending});
    return true;
  }
  t.subscribers.push_back({&c, id});
  memberships_[id].push_back({&t, t.subscribers.size() - 1});
  return true;
}

bool TopicTable::make_live(Connection& c, std::uint64_t id, std::string_view topic, std::uint64_t pending) {
  auto m = memberships_.find(id);
  if (m == memberships_.end() || pending == 0) return false;
  for (Membership& x : m->second) {
    if (x.pending != pending || x.topic->name != topic) continue;
    Topic& t = *x.topic;
    --t.pending;
    x.pending = 0;
    t.subscribers.push_back({&c, id});
    x.index = t.subscribers.size() - 1;
    return true;
  }
  return false;
}

bool TopicTable::remove(std::uint64_t id, std::string_view topic) {
  auto m = memberships_.find(id);
  if (m == memberships_.end()) return false;
  auto& list = m->second;
  auto own = std::find_if(list.begin(), list.end(), [&](const Membership& x) { return x.topic->name == topic; });
  if (own == list.end()) return false;
  const Membership gone = *own;
  list.erase(own);
  if (list.empty()) memberships_.erase(m);
  leave(gone);
  return true;
}

void TopicTable::remove_all(std::uint64_t id, const std::function<void(std::string_view)>& left) {
  auto m = memberships_.find(id);
  if (m == memberships_.end()) return;
  const std::vector<Membership> list = std::move(m->second);
  memberships_.erase(m);
  // Names first: a topic left empty is erased by leave().
  std::vector<std::string> names;
  names.reserve(list.size());
  for (const Membership& x : list) names.push_back(x.topic->name);
  for (const Membership& x : list) leave(x);
  for (const std::string& name : names) left(name);
}

bool TopicTable::is_pending(std::uint64_t id, std::string_view topic, std::uint64_t pending) const {
  auto m = memberships_.find(id);
  if (m == memberships_.end() || pending == 0) return false;
  return std::any_of(m->second.begin(), m->second.end(),
                     [&](const Membership& x) { return x.pending == pending && x.topic->name == topic; });
}

bool TopicTable::contains(std::uint64_t id, std::string_view topic) const {
  auto m = memberships_.find(id);
  if (m == memberships_.end()) return false;
  return std::any_of(m->second.begin(), m->second.end(), [&](const Membership& x) { return x.topic->name == topic; });
}

std::vector<std::string> TopicTable::topics_of(std::uint64_t id) const {
  std::vector<std::string> out;
  auto m = memberships_.find(id);
  if (m == memberships_.end()) return out;
  for (const Membership& x : m->second) out.push_back(x.topic->name);
  return out;
}

std::size_t TopicTable::count(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second->subscribers.size() - it->second->holes + it->second->pending;
}

TopicTable::Membership* TopicTable::find_membership(std::uint64_t id, const Topic* topic) noexcept {
  auto m = memberships_.find(id);
  if (m == memberships_.end()) return nullptr;
  for (Membership& x : m->second) {
    if (x.topic == topic) return &x;
  }
  return nullptr;
}

void TopicTable::leave(const Membership& gone) {
  Topic& t = *gone.topic;
  if (gone.pending != 0) {
    --t.pending;
    return erase_if_empty(t);
  }
  const std::size_t index = gone.index;
  if (t.walking != 0) {
    // A publish is walking this array: no element may move under it.
    t.subscribers[index].connection = nullptr;
    ++t.holes;
    return;
  }
  const std::size_t last = t.subscribers.size() - 1;
  if (index != last) {
    t.subscribers[index] = t.subscribers[last];
    if (Membership* moved = find_membership(t.subscribers[index].id, &t)) moved->index = index;
  }
  t.subscribers.pop_back();
  erase_if_empty(t);
}

void TopicTable::compact(Topic& t) noexcept {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < t.subscribers.size(); ++i) {
    if (t.subscribers[i].connection == nullptr) continue;
    if (kept != i) {
      t.subscribers[kept] = t.subscribers[i];
      if (Membership* moved = find_membership(t.subscribers[kept].id, &t)) moved->index = kept;
    }
    ++kept;
  }
  t.subscribers.resize(kept);
  t.holes = 0;
  erase_if_empty(t);
}

void TopicTable::erase_if_empty(Topic& t) noexcept {
  if (!t.subscribers.empty() || t.pending != 0 || t.walking != 0) return;
  auto it = topics_.find(std::string_view(t.name));
  if (it != topics_.end()) topics_.erase(it);
}

}  // namespace parley::detail
