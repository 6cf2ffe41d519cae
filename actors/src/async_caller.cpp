#include "processpype/actors/async_caller.hpp"

#include <cstdint>
#include <vector>

#include <caf/actor_companion.hpp>
#include <caf/all.hpp>

#include "processpype/actors/calling_thread_execution.hpp"

namespace processpype {

namespace {

using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

caf::actor_companion* as_companion(const caf::strong_actor_ptr& pointer) {
  return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(pointer));
}

}  // namespace

AsyncCaller::AsyncCaller(caf::actor_system& system)
    : system_(system),
      companion_(caf::actor_cast<caf::strong_actor_ptr>(system.spawn<caf::actor_companion>())) {
  as_companion(companion_)->on_enqueue([this](caf::mailbox_element_ptr element) {
    on_enqueue(std::move(element));
  });
}

AsyncCaller::~AsyncCaller() {
  // From here on replies are dropped; none reaches `this`. (The companion's
  // enqueue holds its lock while calling the handler, so none is running.)
  auto* companion = as_companion(companion_);
  companion->on_enqueue([](caf::mailbox_element_ptr) {});
  // End it: once its handle crossed to another node, CAF's registry keeps it
  // alive, and the actor system would wait for it forever at shutdown.
  companion->cleanup(caf::exit_reason::user_shutdown, nullptr);
}

void AsyncCaller::send(const caf::strong_actor_ptr& destination, caf::message message,
                       Callback callback, std::optional<caf::timespan> timeout) {
  auto id = next_id_.fetch_add(1, std::memory_order_relaxed);
  std::optional<caf::actor_clock::time_point> deadline;
  if (timeout) deadline = system_.clock().now() + *timeout;
  bool schedule = false;
  {
    std::lock_guard lock{mutex_};
    pending_.emplace(
        id, Pending{std::move(callback), caf::actor_cast<caf::actor_addr>(destination), deadline});
    if (deadline) {
      deadlines_.emplace(*deadline, id);
      schedule = needs_sweep_at(*deadline);
    }
  }
  // Outside the lock: the clock thread may be running sweep() and wait for it.
  if (schedule) schedule_sweep(*deadline);
  if (!destination) {
    auto reply = caf::make_message(caf::make_error(caf::sec::invalid_argument));
    finish(id, reply);
    return;
  }
  // On an HTTP handler's thread the receiver runs here, and so does the
  // reply's callback: no CAF worker to wake, no I/O thread to wake back.
  auto* unit = CallingThreadExecution::current();
  destination->enqueue(
      caf::make_mailbox_element(companion_, caf::make_message_id(id), {}, std::move(message)),
      unit);
  if (unit != nullptr) unit->run();
}

void AsyncCaller::on_enqueue(caf::mailbox_element_ptr element) {
  if (element->mid.is_response()) {
    auto reply = element->move_content_to_message();
    finish(element->mid.request_id().integer_value(), reply);
    return;
  }
  if (element->content().match_elements<sweep_atom>()) sweep();
}

bool AsyncCaller::needs_sweep_at(caf::actor_clock::time_point deadline) {
  if (sweep_at_ && *sweep_at_ <= deadline) return false;
  sweep_at_ = deadline;
  return true;
}

void AsyncCaller::schedule_sweep(caf::actor_clock::time_point at) {
  system_.clock().schedule_message(
      at, companion_,
      caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, sweep_atom::value));
}

void AsyncCaller::sweep() {
  auto now = system_.clock().now();
  std::vector<std::uint64_t> expired;
  std::optional<caf::actor_clock::time_point> next;
  {
    std::lock_guard lock{mutex_};
    if (sweep_at_ && *sweep_at_ <= now) sweep_at_.reset();  // this sweep, or an earlier one
    auto first_pending = deadlines_.upper_bound({now, UINT64_MAX});
    for (auto entry = deadlines_.begin(); entry != first_pending; ++entry)
      expired.push_back(entry->second);
    if (first_pending != deadlines_.end() && needs_sweep_at(first_pending->first))
      next = first_pending->first;
  }
  for (auto id : expired) {
    auto reply = caf::make_message(caf::make_error(caf::sec::request_timeout));
    finish(id, reply);
  }
  if (next) schedule_sweep(*next);
}

void AsyncCaller::fail_requests_to(const caf::actor_addr& destination, const caf::error& error) {
  std::vector<std::uint64_t> ids;
  {
    std::lock_guard lock{mutex_};
    for (const auto& [id, pending] : pending_)
      if (pending.destination == destination) ids.push_back(id);
  }
  for (auto id : ids) {
    auto reply = caf::make_message(error);
    finish(id, reply);
  }
}

void AsyncCaller::finish(std::uint64_t id, caf::message& reply) {
  Callback callback;
  {
    std::lock_guard lock{mutex_};
    auto found = pending_.find(id);
    if (found == pending_.end()) return;  // answered already (reply vs timeout)
    callback = std::move(found->second.callback);
    if (found->second.deadline) deadlines_.erase({*found->second.deadline, id});
    pending_.erase(found);
  }
  // The callback runs on the replying actor's thread: whatever it throws
  // must not take that actor (a Supervisor, a service) down with it.
  try {
    callback(reply);
  } catch (...) {
  }
}

}  // namespace processpype
