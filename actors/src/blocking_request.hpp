#pragma once

#include <optional>
#include <utility>

#include <caf/all.hpp>

#include "processpype/actors/calling_thread_execution.hpp"
#include "processpype/actors/protocol.hpp"

namespace processpype {

/// Sends `message` to `destination` and waits up to `timeout` for the
/// reply (the embedding API's blocking calls); a failure is thrown as
/// processpype::Error.
template <class Result, class Handle, class... Ts>
Result blocking_request(caf::actor_system& system, const Handle& destination, caf::duration timeout,
                        Ts&&... message) {
  CallingThreadExecution::before_blocking();
  caf::scoped_actor self{system};
  std::optional<Error> failure;
  std::optional<Result> result;
  self->request(destination, timeout, std::forward<Ts>(message)...)
      .receive([&](Result& value) { result = std::move(value); },
               [&](caf::error& error) { failure = to_error(error); });
  if (failure) throw *failure;
  return std::move(*result);
}

}  // namespace processpype
