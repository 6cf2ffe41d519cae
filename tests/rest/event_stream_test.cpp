// GET /events as Server-Sent Events: the replay, live events, and the limit
// on open streams. The exchange is the test's own HttpExchange, whose
// stream hands every chunk to the test as it is written.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <caf/all.hpp>

#include "api_harness.hpp"

using namespace rest_tests;
using processpype::rest::HttpResponse;
using processpype::rest::ResponseStream;

namespace {

/// What an exchange received: its response head and every streamed chunk.
struct Received {
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<HttpResponse> head;
  std::string streamed;
  bool closed = false;

  /// Waits until `done()` holds (under the lock), at most 5 s.
  bool wait_for(const std::function<bool()>& done) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, response_timeout, done);
  }
};

class Sink final : public ResponseStream {
 public:
  explicit Sink(std::shared_ptr<Received> received) : received_(std::move(received)) {}
  void write(std::string chunk, std::function<void(bool)> on_written) override {
    bool open;
    {
      std::lock_guard lock{received_->mutex};
      open = !received_->closed;
      if (open) received_->streamed += chunk;
    }
    received_->changed.notify_all();
    if (on_written) on_written(open);
  }
  void close() override {
    {
      std::lock_guard lock{received_->mutex};
      received_->closed = true;
    }
    received_->changed.notify_all();
  }

 private:
  std::shared_ptr<Received> received_;
};

/// A GET with `Accept: text/event-stream`.
class StreamingExchange final : public processpype::rest::HttpExchange {
 public:
  StreamingExchange(std::string query, std::shared_ptr<Received> received)
      : query_(std::move(query)), received_(std::move(received)) {}

  std::string_view method() const override { return "GET"; }
  std::string_view path() const override { return "/events"; }
  std::string_view query() const override { return query_; }
  std::string_view body() const override { return {}; }
  std::optional<std::string_view> header(std::string_view name) const override {
    if (name == "Accept") return std::string_view{"text/event-stream"};
    return std::nullopt;
  }
  std::string peer() const override { return "127.0.0.1:1"; }

  void respond(HttpResponse response) override {
    {
      std::lock_guard lock{received_->mutex};
      received_->head = std::move(response);
    }
    received_->changed.notify_all();
  }
  std::shared_ptr<ResponseStream> stream(HttpResponse head) override {
    respond(std::move(head));
    return std::make_shared<Sink>(received_);
  }

 private:
  std::string query_;
  std::shared_ptr<Received> received_;
};

/// Waits until the node's Node actor has run: it puts the node into the
/// NodeDirectory, where a stream looks up its source (see the
/// [!shouldfail] test at the end).
void wait_until_published(ApiNode& node) {
  node.runtime().nodes();  // a reply from the Node actor: it has run
  REQUIRE(node.runtime().directory()->find(node_id));
}

std::shared_ptr<Received> open_stream(ApiNode& node, std::string query = {}) {
  wait_until_published(node);
  auto received = std::make_shared<Received>();
  node.api().handle(std::make_shared<StreamingExchange>(std::move(query), received));
  REQUIRE(received->wait_for([&] { return received->head.has_value(); }));
  return received;
}

processpype::rest::ApiOptions with_stream_limit(std::size_t limit) {
  processpype::rest::ApiOptions options;
  options.max_event_streams = limit;
  return options;
}

}  // namespace

TEST_CASE("an event stream replays the kept events, then follows new ones") {
  ApiNode node;
  node.add("echo", "before");
  auto received = open_stream(node);
  {
    std::lock_guard lock{received->mutex};
    CHECK(received->head->status == 200);
    CHECK(received->head->content_type == "text/event-stream");
  }
  auto boot = node.runtime().event_log().boot();
  CHECK(received->wait_for([&] {
    return received->streamed.find("id: " + boot + ":1\nevent: registered\n") != std::string::npos;
  }));
  node.add("echo", "after");
  CHECK(received->wait_for(
      [&] { return received->streamed.find("\"service\":\"after\"") != std::string::npos; }));
  std::lock_guard lock{received->mutex};
  CHECK(received->streamed.find("\"service\":\"before\"") <
        received->streamed.find("\"service\":\"after\""));
}

TEST_CASE("an event stream with since= replays only later events") {
  ApiNode node;
  node.add("echo", "first");
  auto last = node.runtime().event_log().last_seq();
  node.add("echo", "second");
  auto received = open_stream(node, "since=" + std::to_string(last));
  CHECK(received->wait_for(
      [&] { return received->streamed.find("\"service\":\"second\"") != std::string::npos; }));
  std::lock_guard lock{received->mutex};
  CHECK(received->streamed.find("\"service\":\"first\"") == std::string::npos);
}

TEST_CASE("streams beyond max_event_streams are refused with 503") {
  ApiNode node{with_stream_limit(1)};
  auto first = open_stream(node);
  CHECK(node.api().open_event_streams() == 1);
  auto refused = node.get("/events", {{"Accept", "text/event-stream"}});
  INFO(refused);
  CHECK(refused.status == 503);
  CHECK(refused["detail"] == "Too many event streams (at most 1)");
  // A JSON read of the events is no stream: it is still answered.
  CHECK(node.get("/events").status == 200);
}

// Was a bug, kept as a regression test: the Runtime's own node enters its NodeDirectory only when
// the Node actor first runs (NodeActorImpl::make_behavior -> publish_self), and Api::events looks
// the stream's source up in that directory. Until the actor system got to run the Node actor, GET
// /events with Accept: text/event-stream answers 404 "Node node-1 not found" for the node's own
// events. Reproduced deterministically with one scheduler thread kept busy
// while the Runtime and the Api are made, as on a loaded machine at startup.
TEST_CASE("a node's own event stream opens before its Node actor has run") {
  processpype::configure_logging(spdlog::level::off, processpype::LogFormat::text);
  caf::actor_system_config config;
  processpype::Runtime::add_types(config);
  config.set("scheduler.max-threads", std::size_t{1});
  caf::actor_system system{config};

  struct Blocker {
    std::promise<void> started;
    std::promise<void> release;
    bool released = false;
    void open() {
      if (!released) release.set_value();
      released = true;
    }
    ~Blocker() { open(); }
  } blocker;
  auto entered = blocker.started.get_future();
  auto until_released = blocker.release.get_future().share();
  system.spawn([&blocker, until_released](caf::event_based_actor*) -> caf::behavior {
    blocker.started.set_value();
    until_released.wait();  // keeps the only scheduler thread busy
    return {};
  });
  REQUIRE(entered.wait_for(response_timeout) == std::future_status::ready);

  processpype::RuntimeOptions options;
  options.node_id = node_id;
  auto runtime = std::make_unique<processpype::Runtime>(system, options);
  auto api = std::make_unique<processpype::rest::Api>(*runtime, processpype::rest::ApiOptions{});
  auto received = std::make_shared<Received>();
  api->handle(std::make_shared<StreamingExchange>("", received));
  bool answered = received->wait_for([&] { return received->head.has_value(); });
  blocker.open();
  REQUIRE(answered);
  std::lock_guard lock{received->mutex};
  INFO(received->head->status << " " << received->head->body);
  CHECK(received->head->status == 200);
  CHECK(received->head->content_type == "text/event-stream");
}
