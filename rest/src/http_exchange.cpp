#include "processpype/rest/http_exchange.hpp"

#include <mutex>

#include "processpype/runtime/routes.hpp"

namespace processpype::rest {

struct RecordedExchange::State {
  std::mutex mutex;
  std::optional<HttpResponse> response;
  std::string streamed;
  bool closed = false;
};

namespace {

class RecordedStream final : public ResponseStream {
 public:
  explicit RecordedStream(std::shared_ptr<RecordedExchange::State> state)
      : state_(std::move(state)) {}

  void write(std::string chunk, std::function<void(bool)> on_written) override;
  void close() override;

 private:
  std::shared_ptr<RecordedExchange::State> state_;
};

}  // namespace

RecordedExchange::RecordedExchange(Request request,
                                   std::function<void(const HttpResponse&)> on_response)
    : request_(std::move(request)),
      on_response_(std::move(on_response)),
      state_(std::make_shared<State>()) {}

std::optional<std::string_view> RecordedExchange::header(std::string_view name) const {
  for (const auto& [key, value] : request_.headers)
    if (same_header_name(key, name)) return value;
  return std::nullopt;
}

void RecordedExchange::respond(HttpResponse response) {
  {
    std::lock_guard lock{state_->mutex};
    state_->response = response;
  }
  if (on_response_) on_response_(response);
}

std::shared_ptr<ResponseStream> RecordedExchange::stream(HttpResponse head) {
  respond(std::move(head));
  return std::make_shared<RecordedStream>(state_);
}

std::optional<HttpResponse> RecordedExchange::response() const {
  std::lock_guard lock{state_->mutex};
  return state_->response;
}

std::string RecordedExchange::streamed() const {
  std::lock_guard lock{state_->mutex};
  return state_->streamed;
}

void RecordedStream::write(std::string chunk, std::function<void(bool)> on_written) {
  bool open;
  {
    std::lock_guard lock{state_->mutex};
    open = !state_->closed;
    if (open) state_->streamed += chunk;
  }
  if (on_written) on_written(open);
}

void RecordedStream::close() {
  std::lock_guard lock{state_->mutex};
  state_->closed = true;
}

}  // namespace processpype::rest
