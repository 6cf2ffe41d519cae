#include "client_departures.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace processpype::rest {

namespace {

/// The epoll user data of the eventfd that ends the thread; watches count
/// from 1.
constexpr std::uint64_t stop_key = 0;

}  // namespace

struct ClientDepartures::Shared {
  Shared() : epoll(::epoll_create1(EPOLL_CLOEXEC)), stop(::eventfd(0, EFD_CLOEXEC)) {
    if (epoll < 0 || stop < 0) throw std::system_error(errno, std::generic_category(), "epoll");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = stop_key;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, stop, &event) != 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }

  ~Shared() {
    for (auto& [key, entry] : watched) ::close(entry.descriptor);
    if (stop >= 0) ::close(stop);
    if (epoll >= 0) ::close(epoll);
  }

  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  /// Keys, not descriptors, name a watch in epoll's events: a descriptor
  /// closed and reused by a new watch while an event for the old one is on
  /// its way would otherwise be taken for the new one.
  struct Entry {
    int descriptor;
    std::function<void()> on_departure;
  };

  void forget(std::uint64_t key) {
    std::lock_guard lock{mutex};
    auto found = watched.find(key);
    if (found == watched.end()) return;
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, found->second.descriptor, nullptr);
    ::close(found->second.descriptor);
    watched.erase(found);
  }

  /// Runs the callbacks of the watches whose peers left; returns false once
  /// asked to stop.
  bool wait_once() {
    std::array<epoll_event, 16> events{};
    int ready = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), -1);
    if (ready < 0) return errno == EINTR;
    std::vector<std::function<void()>> departed;
    {
      std::lock_guard lock{mutex};
      for (int i = 0; i < ready; ++i) {
        auto key = events[static_cast<std::size_t>(i)].data.u64;
        if (key == stop_key) return false;
        auto found = watched.find(key);
        // Forgotten meanwhile, or reported already (EPOLLONESHOT: once).
        if (found == watched.end() || !found->second.on_departure) continue;
        departed.push_back(std::move(found->second.on_departure));
        found->second.on_departure = nullptr;
      }
    }
    for (auto& callback : departed) callback();
    return true;
  }

  const int epoll;
  const int stop;
  std::mutex mutex;
  std::uint64_t next_key = stop_key + 1;
  std::unordered_map<std::uint64_t, Entry> watched;
  std::thread thread;  // started with the first watch
};

ClientDepartures::Watch::Watch(std::shared_ptr<Shared> shared, std::uint64_t key)
    : shared_(std::move(shared)), key_(key) {}

ClientDepartures::Watch::~Watch() {
  shared_->forget(key_);
}

ClientDepartures::ClientDepartures() : shared_(std::make_shared<Shared>()) {}

ClientDepartures::~ClientDepartures() {
  std::uint64_t one = 1;
  if (shared_->thread.joinable()) {
    [[maybe_unused]] auto written = ::write(shared_->stop, &one, sizeof one);
    shared_->thread.join();
  }
}

std::unique_ptr<ClientDepartures::Watch> ClientDepartures::watch(
    int descriptor, std::function<void()> on_departure) {
  if (descriptor < 0) return nullptr;
  // A duplicate, so that the server's own descriptor may close (and its
  // number be reused) at any time while this one is watched.
  int duplicate = ::fcntl(descriptor, F_DUPFD_CLOEXEC, 0);
  if (duplicate < 0) return nullptr;
  std::lock_guard lock{shared_->mutex};
  auto key = shared_->next_key++;
  epoll_event event{};
  event.events = EPOLLRDHUP | EPOLLONESHOT;  // EPOLLHUP and EPOLLERR come anyway
  event.data.u64 = key;
  if (::epoll_ctl(shared_->epoll, EPOLL_CTL_ADD, duplicate, &event) != 0) {
    ::close(duplicate);
    return nullptr;
  }
  shared_->watched.emplace(key, Shared::Entry{duplicate, std::move(on_departure)});
  if (!shared_->thread.joinable())
    shared_->thread = std::thread([shared = shared_.get()] {
      while (shared->wait_once()) {
      }
    });
  return std::unique_ptr<Watch>(new Watch(shared_, key));
}

}  // namespace processpype::rest
