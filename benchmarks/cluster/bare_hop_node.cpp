// bare_hop_node: the limit of a call through a peer (cluster_benchmark):
// two bare CAF 0.17 nodes doing request/response over BASP on loopback,
// with a bare RESTinio handler in front of the first, and nothing of
// ProcessPype on the path.
//
//   bare_hop_node peer  --node-port P [--reply-bytes M] [--tls CERT KEY CA]
//   bare_hop_node front --http-port H --peer-port P [--request-bytes N] [--tls CERT KEY CA]
//
// The peer publishes an actor that answers every request (a string) with a
// string of M bytes. The front connects to it and serves HTTP on
// 127.0.0.1:H with RESTinio's default traits and two I/O threads, as the
// processpype binary does; each request becomes one request of N bytes to
// the peer, enqueued straight into the peer's proxy from the I/O thread
// with an actor_companion as the sender (no actor of its own on the way),
// and is answered from the thread that receives the reply. A request to
// `.../<name>/start|stop` is answered `{"service":"<name>","status":...}`,
// so the wrk script of the start/stop cycle runs against it unchanged.
// N and M are the sizes of the messages a processpype node sends for the
// same request (cluster_benchmark computes them). Both nodes use the CAF
// settings of the processpype binary (server/application.cpp), and with
// --tls CAF's OpenSSL module with the node's certificate, key and CA.
//
// The front prints "ready" once it serves; both run until SIGTERM.
#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <caf/actor_companion.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <restinio/all.hpp>

namespace {

struct Options {
  std::string role;
  int http_port = 0;
  int node_port = 0;
  int peer_port = 0;
  std::size_t request_bytes = 128;
  std::size_t reply_bytes = 160;
  std::optional<std::array<std::string, 3>> tls;  ///< certificate, key, CA
};

Options parse(int argc, char** argv) {
  if (argc < 2) throw std::invalid_argument("a role: peer or front");
  Options options;
  options.role = argv[1];
  if (options.role != "peer" && options.role != "front")
    throw std::invalid_argument("the role is peer or front");
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw std::invalid_argument(std::string{argv[i]} + " needs a value");
    return argv[++i];
  };
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--http-port")
      options.http_port = std::stoi(value(i));
    else if (arg == "--node-port")
      options.node_port = std::stoi(value(i));
    else if (arg == "--peer-port")
      options.peer_port = std::stoi(value(i));
    else if (arg == "--request-bytes")
      options.request_bytes = std::stoul(value(i));
    else if (arg == "--reply-bytes")
      options.reply_bytes = std::stoul(value(i));
    else if (arg == "--tls")
      options.tls = std::array<std::string, 3>{value(i), value(i), value(i)};
    else
      throw std::invalid_argument("unknown option " + std::string{arg});
  }
  if (options.role == "peer" && options.node_port == 0)
    throw std::invalid_argument("peer needs --node-port");
  if (options.role == "front" && (options.http_port == 0 || options.peer_port == 0))
    throw std::invalid_argument("front needs --http-port and --peer-port");
  return options;
}

/// The CAF settings of the processpype binary (server/application.cpp).
void configure(caf::actor_system_config& config, const Options& options) {
  config.set("scheduler.max-threads",
             std::max<std::size_t>(2, std::thread::hardware_concurrency()));
  config.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  config.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(1)});
  config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  config.load<caf::io::middleman>();
  if (options.tls) {
    config.load<caf::openssl::manager>();
    config.openssl_certificate = (*options.tls)[0];
    config.openssl_key = (*options.tls)[1];
    config.openssl_cafile = (*options.tls)[2];
  }
}

/// Blocks until SIGTERM or SIGINT.
void wait_for_termination() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int received = 0;
  sigwait(&signals, &received);
}

int run_peer(caf::actor_system& system, const Options& options) {
  auto reply_bytes = options.reply_bytes;
  auto responder = system.spawn([reply_bytes]() -> caf::behavior {
    return {[reply_bytes](const std::string&) { return std::string(reply_bytes, 'r'); }};
  });
  auto port = static_cast<std::uint16_t>(options.node_port);
  auto published = options.tls ? caf::openssl::publish(responder, port, "127.0.0.1", true)
                               : system.middleman().publish(responder, port, "127.0.0.1", true);
  if (!published) {
    std::cerr << "bare_hop_node peer: cannot publish on " << port << ": "
              << system.render(published.error()) << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  wait_for_termination();
  caf::anon_send_exit(responder, caf::exit_reason::user_shutdown);
  return 0;
}

/// Requests to the peer from non-actor threads, replies taken from an
/// actor_companion's enqueue hook on the thread that delivers them.
class Caller {
 public:
  using Callback = std::function<void()>;

  explicit Caller(caf::actor_system& system)
      : companion_(caf::actor_cast<caf::strong_actor_ptr>(system.spawn<caf::actor_companion>())) {
    companion()->on_enqueue([this](caf::mailbox_element_ptr element) {
      if (!element->mid.is_response()) return;
      Callback callback;
      {
        std::lock_guard lock{mutex_};
        auto found = pending_.find(element->mid.request_id().integer_value());
        if (found == pending_.end()) return;
        callback = std::move(found->second);
        pending_.erase(found);
      }
      callback();
    });
  }

  ~Caller() {
    companion()->on_enqueue([](caf::mailbox_element_ptr) {});
    companion()->cleanup(caf::exit_reason::user_shutdown, nullptr);
  }

  void request(const caf::strong_actor_ptr& peer, std::string payload, Callback callback) {
    auto id = next_id_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock{mutex_};
      pending_.emplace(id, std::move(callback));
    }
    peer->enqueue(
        caf::make_mailbox_element(companion_, caf::make_message_id(id), {}, std::move(payload)),
        nullptr);
  }

 private:
  caf::actor_companion* companion() const {
    return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(companion_));
  }

  caf::strong_actor_ptr companion_;
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, Callback> pending_;
};

/// `{"service":"<name>","status":...}` for `.../<name>/start|stop`, a
/// small JSON body otherwise.
std::string body_for(std::string_view path) {
  auto last = path.rfind('/');
  if (last == std::string_view::npos || last == 0) return R"({"status":"ok"})";
  auto operation = path.substr(last + 1);
  if (operation != "start" && operation != "stop") return R"({"message":"hi","status":"ok"})";
  auto before = path.rfind('/', last - 1);
  auto name = path.substr(before + 1, last - before - 1);
  return fmt::format(R"({{"service":"{}","status":"{}"}})", name,
                     operation == "start" ? "started" : "stopped");
}

caf::expected<caf::actor> connect(caf::actor_system& system, const Options& options) {
  auto port = static_cast<std::uint16_t>(options.peer_port);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (true) {
    auto peer = options.tls ? caf::openssl::remote_actor(system, "127.0.0.1", port)
                            : system.middleman().remote_actor("127.0.0.1", port);
    if (peer || std::chrono::steady_clock::now() > deadline) return peer;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int run_front(caf::actor_system& system, const Options& options) {
  auto peer = connect(system, options);
  if (!peer) {
    std::cerr << "bare_hop_node front: cannot reach the peer on " << options.peer_port << ": "
              << system.render(peer.error()) << "\n";
    return 1;
  }
  auto destination = caf::actor_cast<caf::strong_actor_ptr>(*peer);
  Caller caller{system};
  const std::string payload(options.request_bytes, 'q');
  using HttpServer = restinio::http_server_t<restinio::default_traits_t>;
  HttpServer http{restinio::own_io_context(), [&](auto& settings) {
                    settings.address("127.0.0.1")
                        .port(static_cast<std::uint16_t>(options.http_port))
                        // As the processpype binary's listener.
                        .socket_options_setter([](restinio::socket_options_t& socket) {
                          socket.set_option(restinio::asio_ns::ip::tcp::no_delay(true));
                        })
                        .request_handler([&](restinio::request_handle_t request) {
                          caller.request(destination, payload, [request] {
                            auto path = request->header().path();
                            request->create_response()
                                .append_header(restinio::http_field::content_type,
                                               "application/json")
                                .set_body(body_for({path.data(), path.size()}))
                                .done();
                          });
                          return restinio::request_accepted();
                        });
                  }};
  restinio::on_pool_runner_t<HttpServer> runner{2, http};
  std::promise<void> started;
  runner.start(
      [&started]() noexcept { started.set_value(); },
      [&started](std::exception_ptr error) noexcept { started.set_exception(std::move(error)); });
  started.get_future().get();
  std::cout << "ready" << std::endl;
  wait_for_termination();
  runner.stop();
  runner.wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "bare_hop_node: " << error.what()
              << "\nusage: bare_hop_node peer --node-port P [--reply-bytes M] [--tls CERT KEY CA]"
                 "\n       bare_hop_node front --http-port H --peer-port P [--request-bytes N]"
                 " [--tls CERT KEY CA]\n";
    return 2;
  }
  // SIGTERM and SIGINT are taken by sigwait, on whichever thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  caf::actor_system_config config;
  configure(config, options);
  caf::actor_system system{config};
  return options.role == "peer" ? run_peer(system, options) : run_front(system, options);
}
