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
#include <utility>
#include <vector>

namespace processpype::rest {

// -- OwnedDescriptor ----------------------------------------------------------------------

OwnedDescriptor OwnedDescriptor::duplicate(int descriptor) noexcept {
  if (descriptor < 0) return {};
  return OwnedDescriptor{::fcntl(descriptor, F_DUPFD_CLOEXEC, 0)};
}

OwnedDescriptor::~OwnedDescriptor() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

OwnedDescriptor::OwnedDescriptor(OwnedDescriptor&& other) noexcept
    : descriptor_(std::exchange(other.descriptor_, -1)) {}

OwnedDescriptor& OwnedDescriptor::operator=(OwnedDescriptor&& other) noexcept {
  if (this != &other) {
    if (descriptor_ >= 0) ::close(descriptor_);
    descriptor_ = std::exchange(other.descriptor_, -1);
  }
  return *this;
}

// -- ClientDepartures ---------------------------------------------------------------------

namespace {

/// The epoll user data of the eventfd that ends the thread; watches count
/// from 1.
constexpr std::uint64_t stop_key = 0;

}  // namespace

/// What the thread and the watches share; it lives as long as any of them.
struct ClientDepartures::Shared {
  /// Without an epoll set (the kernel refused one), nothing is watched.
  Shared() {
    OwnedDescriptor made_epoll{::epoll_create1(EPOLL_CLOEXEC)};
    OwnedDescriptor made_stop{::eventfd(0, EFD_CLOEXEC)};
    if (!made_epoll || !made_stop) return;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = stop_key;
    if (::epoll_ctl(made_epoll.get(), EPOLL_CTL_ADD, made_stop.get(), &event) != 0) return;
    epoll = std::move(made_epoll);
    stop = std::move(made_stop);
  }

  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  /// Keys, not descriptors, name a watch in epoll's events: a descriptor
  /// closed and reused by a new watch while an event for the old one is on
  /// its way would otherwise be taken for the new one.
  struct Entry {
    OwnedDescriptor descriptor;
    std::function<void()> on_departure;
  };

  void forget(std::uint64_t key) {
    std::lock_guard lock{mutex};
    auto found = watched.find(key);
    if (found == watched.end()) return;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, found->second.descriptor.get(), nullptr);
    watched.erase(found);  // closes the duplicate
  }

  /// Runs the callbacks of the watches whose peers left; false once asked
  /// to stop.
  bool wait_once() {
    std::array<epoll_event, 16> events{};
    int ready = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), -1);
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
        departed.push_back(std::exchange(found->second.on_departure, nullptr));
      }
    }
    for (auto& callback : departed) callback();
    return true;
  }

  OwnedDescriptor epoll;
  OwnedDescriptor stop;
  std::mutex mutex;
  std::uint64_t next_key = stop_key + 1;
  std::unordered_map<std::uint64_t, Entry> watched;
  std::thread thread;  // started with the first watch
  bool stopped = false;
};

ClientDepartures::Watch::Watch(std::shared_ptr<Shared> shared, std::uint64_t key)
    : shared_(std::move(shared)), key_(key) {}

ClientDepartures::Watch::~Watch() {
  shared_->forget(key_);
}

ClientDepartures::ClientDepartures() : shared_(std::make_shared<Shared>()) {}

ClientDepartures::~ClientDepartures() {
  stop();
}

void ClientDepartures::stop() {
  std::thread thread;
  {
    std::lock_guard lock{shared_->mutex};
    shared_->stopped = true;
    thread = std::move(shared_->thread);
  }
  if (!thread.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(shared_->stop.get(), &one, sizeof one);
  // From one of its own callbacks (the last owner of a stream let go there)
  // the thread ends by itself once the callback returns.
  if (thread.get_id() == std::this_thread::get_id())
    thread.detach();
  else
    thread.join();
}

std::unique_ptr<ClientDepartures::Watch> ClientDepartures::watch(
    OwnedDescriptor duplicate, std::function<void()> on_departure) {
  if (!duplicate) return nullptr;
  std::lock_guard lock{shared_->mutex};
  if (shared_->stopped || !shared_->epoll) return nullptr;
  if (!shared_->thread.joinable()) {
    try {
      // The thread keeps what it reads alive, whoever lets go of it last.
      shared_->thread = std::thread([shared = shared_] {
        while (shared->wait_once()) {
        }
      });
    } catch (const std::system_error&) {
      return nullptr;
    }
  }
  auto key = shared_->next_key++;
  epoll_event event{};
  event.events = EPOLLRDHUP | EPOLLONESHOT;  // EPOLLHUP and EPOLLERR come anyway
  event.data.u64 = key;
  if (::epoll_ctl(shared_->epoll.get(), EPOLL_CTL_ADD, duplicate.get(), &event) != 0)
    return nullptr;
  shared_->watched.emplace(key, Shared::Entry{std::move(duplicate), std::move(on_departure)});
  return std::unique_ptr<Watch>(new Watch(shared_, key));
}

}  // namespace processpype::rest
