#include "client_departures.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
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

/// The epoll user data of the eventfds that end the thread and that wake it
/// for a new deadline; watches count from 2.
constexpr std::uint64_t stop_key = 0;
constexpr std::uint64_t wake_key = 1;

bool add_eventfd(int epoll, const OwnedDescriptor& eventfd, std::uint64_t key) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = key;
  return ::epoll_ctl(epoll, EPOLL_CTL_ADD, eventfd.get(), &event) == 0;
}

/// Whether the peer of the connected `socket` closed its end and nothing
/// it sent is left unread.
bool peer_has_left(int socket) {
  char byte = 0;
  return ::recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

}  // namespace

/// What the thread and the watches share; it lives as long as any of them.
struct ClientDepartures::Shared {
  /// Without an epoll set (the kernel refused one), nothing is watched.
  Shared() {
    OwnedDescriptor made_epoll{::epoll_create1(EPOLL_CLOEXEC)};
    OwnedDescriptor made_stop{::eventfd(0, EFD_CLOEXEC)};
    OwnedDescriptor made_wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    if (!made_epoll || !made_stop || !made_wake) return;
    if (!add_eventfd(made_epoll.get(), made_stop, stop_key) ||
        !add_eventfd(made_epoll.get(), made_wake, wake_key))
      return;
    epoll = std::move(made_epoll);
    stop = std::move(made_stop);
    wake = std::move(made_wake);
  }

  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  /// Keys, not descriptors, name a watch in epoll's events: a descriptor
  /// closed and reused by a new watch while an event for the old one is on
  /// its way would otherwise be taken for the new one.
  struct Entry {
    OwnedDescriptor descriptor;
    std::function<void()> on_departure;
    /// Lingering: read and dropped until then (only this thread ends it).
    std::optional<std::chrono::steady_clock::time_point> linger_until;
  };

  /// Adds `entry`'s socket to the epoll set for `events`; its key, or none
  /// when the kernel refuses it (the socket then closes). With the mutex
  /// held.
  std::optional<std::uint64_t> add(Entry entry, std::uint32_t events) {
    auto key = next_key++;
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, entry.descriptor.get(), &event) != 0)
      return std::nullopt;
    watched.emplace(key, std::move(entry));
    return key;
  }

  void forget(std::uint64_t key) {
    std::lock_guard lock{mutex};
    auto found = watched.find(key);
    if (found == watched.end()) return;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, found->second.descriptor.get(), nullptr);
    watched.erase(found);  // closes the duplicate
  }

  /// Runs the callbacks of the watches whose peers left, and drains the
  /// lingering sockets; false once asked to stop.
  bool wait_once() {
    std::array<epoll_event, 16> events{};
    int ready = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()),
                             milliseconds_to_next_deadline());
    if (ready < 0) return errno == EINTR;
    std::vector<std::function<void()>> departed;
    {
      std::lock_guard lock{mutex};
      for (int i = 0; i < ready; ++i) {
        auto key = events[static_cast<std::size_t>(i)].data.u64;
        if (key == stop_key) return false;
        if (key == wake_key) {
          std::uint64_t count = 0;
          [[maybe_unused]] auto read = ::read(wake.get(), &count, sizeof count);
          continue;
        }
        auto found = watched.find(key);
        if (found == watched.end()) continue;  // forgotten meanwhile
        if (found->second.linger_until) {
          if (!drain(found->second.descriptor.get())) end_lingering(found);
          continue;
        }
        // Reported already (EPOLLONESHOT: once).
        if (!found->second.on_departure) continue;
        departed.push_back(std::exchange(found->second.on_departure, nullptr));
      }
      end_expired_lingering();
    }
    for (auto& callback : departed) callback();
    return true;
  }

  /// Reads and drops what `descriptor` has, at most 1 MiB a wake-up (the
  /// rest comes with the next); false once its client closed or the
  /// connection failed.
  static bool drain(int descriptor) {
    std::array<char, 16 * 1024> dropped;
    for (std::size_t total = 0; total < 1024 * 1024;) {
      auto got = ::recv(descriptor, dropped.data(), dropped.size(), MSG_DONTWAIT);
      if (got > 0) {
        total += static_cast<std::size_t>(got);
        continue;
      }
      return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return true;
  }

  void end_lingering(std::unordered_map<std::uint64_t, Entry>::iterator found) {
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, found->second.descriptor.get(), nullptr);
    watched.erase(found);
    --lingering;
  }

  void end_expired_lingering() {
    if (lingering == 0) return;
    auto now = std::chrono::steady_clock::now();
    for (auto entry = watched.begin(); entry != watched.end();) {
      auto current = entry++;
      if (current->second.linger_until && *current->second.linger_until <= now)
        end_lingering(current);
    }
  }

  /// epoll_wait's timeout: until the first lingering socket is due, or
  /// none (-1).
  int milliseconds_to_next_deadline() {
    std::lock_guard lock{mutex};
    if (lingering == 0) return -1;
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& [key, entry] : watched)
      if (entry.linger_until) next = std::min(next, *entry.linger_until);
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
  }

  OwnedDescriptor epoll;
  OwnedDescriptor stop;
  OwnedDescriptor wake;
  std::mutex mutex;
  std::uint64_t next_key = wake_key + 1;
  std::unordered_map<std::uint64_t, Entry> watched;
  std::size_t lingering = 0;
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

bool ClientDepartures::running() {
  if (shared_->stopped || !shared_->epoll) return false;
  if (shared_->thread.joinable()) return true;
  try {
    // The thread keeps what it reads alive, whoever lets go of it last.
    shared_->thread = std::thread([shared = shared_] {
      while (shared->wait_once()) {
      }
    });
  } catch (const std::system_error&) {
    return false;
  }
  return true;
}

void ClientDepartures::linger(OwnedDescriptor duplicate,
                              std::chrono::steady_clock::duration at_most) {
  if (!duplicate || peer_has_left(duplicate.get())) return;
  std::lock_guard lock{shared_->mutex};
  if (shared_->lingering >= max_lingering || !running()) return;
  Shared::Entry entry{std::move(duplicate), nullptr, std::chrono::steady_clock::now() + at_most};
  if (!shared_->add(std::move(entry), EPOLLIN | EPOLLRDHUP)) return;
  ++shared_->lingering;
  // Its deadline may come before the one epoll_wait sleeps towards.
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(shared_->wake.get(), &one, sizeof one);
}

std::size_t ClientDepartures::lingering() const {
  std::lock_guard lock{shared_->mutex};
  return shared_->lingering;
}

std::unique_ptr<ClientDepartures::Watch> ClientDepartures::watch(
    OwnedDescriptor duplicate, std::function<void()> on_departure) {
  if (!duplicate) return nullptr;
  std::lock_guard lock{shared_->mutex};
  if (!running()) return nullptr;
  Shared::Entry entry{std::move(duplicate), std::move(on_departure), std::nullopt};
  // EPOLLHUP and EPOLLERR come anyway.
  auto key = shared_->add(std::move(entry), EPOLLRDHUP | EPOLLONESHOT);
  if (!key) return nullptr;
  return std::unique_ptr<Watch>(new Watch(shared_, *key));
}

}  // namespace processpype::rest
