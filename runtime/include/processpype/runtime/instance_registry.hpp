#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace processpype {

/// Registered instances in registration order, found by name with one hash
/// lookup, and the auto-naming rule of docs/rest-api.md, "Services". `Entry` has a
/// `std::string name` that must not change while it is registered.
///
/// Auto-naming needs "how many names start with the key"; instead of scanning
/// every name it keeps that count for each key it was asked about, so the
/// cost does not grow with the number of instances.
template <class Entry>
class InstanceRegistry {
 public:
  using iterator = typename std::list<Entry>::iterator;
  using const_iterator = typename std::list<Entry>::const_iterator;

  Entry* find(std::string_view name) {
    auto found = index_.find(name);
    return found == index_.end() ? nullptr : &*found->second;
  }
  bool contains(std::string_view name) const { return index_.count(name) != 0; }

  /// Appends `entry`; its name must be free.
  Entry& insert(Entry entry) {
    auto position = entries_.insert(entries_.end(), std::move(entry));
    index_.emplace(std::string_view{position->name}, position);
    count_prefixes(position->name, +1);
    return *position;
  }

  void erase(std::string_view name) {
    auto found = index_.find(name);
    if (found == index_.end()) return;
    auto position = found->second;
    count_prefixes(position->name, -1);
    index_.erase(found);
    entries_.erase(position);
  }

  /// `key` when free, else `<key>_<n>`: n is how many names start with the
  /// key, increased until the name is free.
  std::string auto_name(const std::string& key) {
    if (!contains(key)) return key;
    for (auto n = prefix_count(key);; ++n) {
      auto candidate = key + "_" + std::to_string(n);
      if (!contains(candidate)) return candidate;
    }
  }

  std::size_t size() const noexcept { return entries_.size(); }
  iterator begin() noexcept { return entries_.begin(); }
  iterator end() noexcept { return entries_.end(); }
  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }

 private:
  std::size_t prefix_count(const std::string& key) {
    auto [position, inserted] = prefix_counts_.try_emplace(key, 0);
    if (inserted) {  // first question about this key: count once, then maintain
      for (const auto& entry : entries_)
        if (std::string_view{entry.name}.starts_with(key)) ++position->second;
    }
    return position->second;
  }

  void count_prefixes(std::string_view name, int delta) {
    for (auto& [key, count] : prefix_counts_)
      if (name.starts_with(key)) count += delta;
  }

  std::list<Entry> entries_;
  std::unordered_map<std::string_view, iterator> index_;
  std::unordered_map<std::string, std::size_t> prefix_counts_;
};

}  // namespace processpype
