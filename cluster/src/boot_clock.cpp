#include "processpype/cluster/boot_clock.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace processpype::cluster {

namespace {

std::runtime_error system_failure(const char* call) {
  return std::runtime_error(std::string(call) + " failed: " + std::strerror(errno));
}

timespec to_timespec(BootClock::time_point point) {
  auto nanoseconds = point.time_since_epoch().count();
  if (nanoseconds <= 0) nanoseconds = 1;  // zero would disarm the timer
  return timespec{static_cast<time_t>(nanoseconds / 1'000'000'000),
                  static_cast<long>(nanoseconds % 1'000'000'000)};
}

/// Empties an eventfd or a timerfd that poll() found readable.
void drain(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] auto ignored = ::read(fd, &count, sizeof count);
}

}  // namespace

BootClock::time_point BootClock::now() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return time_point(duration(static_cast<rep>(now.tv_sec) * 1'000'000'000 + now.tv_nsec));
}

BootAlarm::BootAlarm() {
  timer_fd_ = ::timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer_fd_ < 0) throw system_failure("timerfd_create(CLOCK_BOOTTIME)");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    ::close(timer_fd_);
    throw system_failure("eventfd");
  }
}

BootAlarm::~BootAlarm() {
  ::close(timer_fd_);
  ::close(wake_fd_);
}

bool BootAlarm::wait_until(BootClock::time_point deadline) {
  itimerspec setting{};
  bool timed = deadline != BootClock::time_point::max();
  if (timed) setting.it_value = to_timespec(deadline);
  if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &setting, nullptr) != 0)
    throw system_failure("timerfd_settime");  // (resets an earlier setting's expiries)
  pollfd waits[2] = {{wake_fd_, POLLIN, 0}, {timer_fd_, POLLIN, 0}};
  for (;;) {
    int ready = ::poll(waits, timed ? 2 : 1, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw system_failure("poll");
    if (waits[0].revents != 0) {
      drain(wake_fd_);
      return false;
    }
    if (timed && waits[1].revents != 0) {
      drain(timer_fd_);
      return true;
    }
  }
}

void BootAlarm::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace processpype::cluster
