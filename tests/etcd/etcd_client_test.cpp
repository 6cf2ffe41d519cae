// The etcd store client (docs/cluster.md) against real etcd servers: keys,
// transactions, errors, TLS, failover between members, watches.

#include <algorithm>
#include <set>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <catch2/catch.hpp>

#include "etcd_test_support.hpp"
#include "processpype/etcd/base64.hpp"

using namespace processpype::etcd;
using namespace processpype::etcd::test;
using processpype::testing::EtcdClusterOptions;
using processpype::testing::free_port;

namespace {

std::string all_bytes() {
  std::string bytes;
  for (int byte = 0; byte < 256; ++byte) bytes.push_back(static_cast<char>(byte));
  return bytes;
}

std::vector<std::string> keys_of(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.key);
  return keys;
}

/// The call's StoreError (fails the test when it does not throw one).
template <class Call>
StoreError store_error_of(Call&& call) {
  try {
    call();
  } catch (const StoreError& error) {
    return error;
  }
  FAIL("the call did not throw StoreError");
  throw std::logic_error("unreachable");
}

}  // namespace

// ---------------------------------------------------------------------------
// Encoding

TEST_CASE("base64 encodes as RFC 4648 and decodes every byte back", "[etcd]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  auto bytes = all_bytes();
  for (std::size_t length = 0; length <= bytes.size(); length += 37)
    CHECK(base64_decode(base64_encode(bytes.substr(0, length))) == bytes.substr(0, length));
  CHECK(base64_decode("Zm9vYmE=") == "fooba");
}

TEST_CASE("base64 refuses text that is not padded standard base64", "[etcd]") {
  for (const char* text : {"Zg=", "Zg", "Z!==", "Zm9v-_==", "=Zg=", "Zg==Zg=="}) {
    INFO(text);
    CHECK_FALSE(base64_decode(text));
  }
}

TEST_CASE("prefix_end is the first key after every key with the prefix", "[etcd]") {
  CHECK(prefix_end("a") == "b");
  CHECK(prefix_end("/processpype/x/") == "/processpype/x0");
  CHECK(prefix_end("a\xff") == "b");
  CHECK(prefix_end("\xff\xff") == std::string(1, '\0'));
  CHECK(prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("Options that cannot work are refused when the client is made", "[etcd]") {
  ClientOptions options;
  CHECK_THROWS_AS(Client(options), std::invalid_argument);
  options.endpoints = {"ftp://127.0.0.1:2379"};
  CHECK_THROWS_AS(Client(options), std::invalid_argument);
  options.endpoints = {"127.0.0.1:2379"};
  CHECK_THROWS_AS(Client(options), std::invalid_argument);
  options.endpoints = {"https://127.0.0.1:2379"};
  options.tls.ca = "/nonexistent/ca.pem";
  CHECK_THROWS_WITH(Client(options), Catch::Contains("/nonexistent/ca.pem"));
  options.tls = {};
  options.tls.certificate = "/etc/hostname";
  CHECK_THROWS_WITH(Client(options), Catch::Contains("go together"));
  options.tls = {};
  options.request_timeout = 0ms;
  CHECK_THROWS_AS(Client(options), std::invalid_argument);
  options.request_timeout = 2s;
  options.endpoints = {"http://127.0.0.1:2379/"};
  Client client(options);
  CHECK(client.current_endpoint() == "http://127.0.0.1:2379");
}

// ---------------------------------------------------------------------------
// Keys and transactions

TEST_CASE("A put is read back by range with its revisions and version", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  // Keys and values are bytes: NULs, high bytes and all.
  std::string key = std::string("/k\0ey", 5) + "\xc3\xa9";
  auto value = all_bytes();
  auto first = client.put(key, value);
  auto read = client.range(key);
  REQUIRE(read.kvs.size() == 1);
  CHECK(read.kvs[0].key == key);
  CHECK(read.kvs[0].value == value);
  CHECK(read.kvs[0].create_revision == first);
  CHECK(read.kvs[0].mod_revision == first);
  CHECK(read.kvs[0].version == 1);
  CHECK(read.kvs[0].lease == 0);
  CHECK(read.revision == first);

  auto second = client.put(key, "");
  CHECK(second == first + 1);
  read = client.range(key);
  REQUIRE(read.kvs.size() == 1);
  CHECK(read.kvs[0].value.empty());
  CHECK(read.kvs[0].create_revision == first);
  CHECK(read.kvs[0].mod_revision == second);
  CHECK(read.kvs[0].version == 2);

  auto absent = client.range("/absent");
  CHECK(absent.kvs.empty());
  CHECK(absent.revision == second);
  CHECK(client.requests_sent() == 5);
}

TEST_CASE("range_prefix reads the keys of a prefix in key order, and only those", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  for (std::string key : {"/a/2", "/a/1", "/a0", "/a", "/b/1", "/a/3/x"}) client.put(key, key);
  auto read = client.range_prefix("/a/");
  CHECK(keys_of(read.kvs) == std::vector<std::string>{"/a/1", "/a/2", "/a/3/x"});
  CHECK(read.kvs[1].value == "/a/2");
  CHECK(keys_of(client.range_prefix("").kvs).size() == 6);
  CHECK(client.range_prefix("/c/").kvs.empty());
}

TEST_CASE("erase and erase_prefix delete keys and say how many", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  for (std::string key : {"/a/1", "/a/2", "/a/3", "/b"}) client.put(key, "v");
  auto erased = client.erase("/a/1");
  CHECK(erased.deleted == 1);
  CHECK(client.erase("/a/1").deleted == 0);
  auto prefix = client.erase_prefix("/a/");
  CHECK(prefix.deleted == 2);
  CHECK(prefix.revision == erased.revision + 1);
  CHECK(keys_of(client.range_prefix("/").kvs) == std::vector<std::string>{"/b"});
}

TEST_CASE("A create-if-absent transaction succeeds once, then fails and reads the holder",
          "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  auto claim = [&](const std::string& owner) {
    return client.txn({Compare::absent("/owner")}, {Operation::put("/owner", owner)},
                      {Operation::range("/owner")});
  };
  auto first = claim("node-a");
  CHECK(first.succeeded);
  REQUIRE(first.responses.size() == 1);
  CHECK(first.responses[0].kind == Operation::Kind::put);

  auto second = claim("node-b");
  CHECK_FALSE(second.succeeded);
  CHECK(second.revision == first.revision);
  REQUIRE(second.responses.size() == 1);
  CHECK(second.responses[0].kind == Operation::Kind::range);
  REQUIRE(second.responses[0].kvs.size() == 1);
  CHECK(second.responses[0].kvs[0].value == "node-a");
  CHECK(second.responses[0].kvs[0].mod_revision == first.revision);

  CHECK(client.txn({Compare::present("/owner")}, {}).succeeded);
}

TEST_CASE("A compare-and-set on mod_revision applies only against the revision it read", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  client.put("/record", "v1");
  auto read = client.range("/record").kvs.at(0);
  auto write = [&](const std::string& value) {
    return client.txn({Compare::mod_revision("/record", Compare::equal, read.mod_revision)},
                      {Operation::put("/record", value)});
  };
  auto applied = write("v2");
  CHECK(applied.succeeded);
  CHECK(applied.revision == read.mod_revision + 1);
  auto stale = write("v3");  // its read is one revision behind now
  CHECK_FALSE(stale.succeeded);
  CHECK(client.range("/record").kvs.at(0).value == "v2");

  // The other targets and results read as their names say.
  CHECK(client.txn({Compare::value("/record", Compare::equal, "v2")}, {}).succeeded);
  CHECK(client.txn({Compare::value("/record", Compare::not_equal, "v2")}, {}).succeeded == false);
  CHECK(client.txn({Compare::version("/record", Compare::equal, 2)}, {}).succeeded);
  CHECK(client.txn({Compare::create_revision("/record", Compare::less, applied.revision)}, {})
            .succeeded);
  CHECK(client.txn({Compare::mod_revision("/record", Compare::greater, applied.revision)}, {})
            .succeeded == false);
  CHECK(client.txn({Compare::lease("/record", Compare::equal, 0)}, {}).succeeded);
}

TEST_CASE("A transaction's operations answer in order: puts, ranges and erases", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  client.put("/old/1", "x");
  client.put("/old/2", "y");
  auto result = client.txn({}, {Operation::put("/new", "n"), Operation::range_prefix("/old/"),
                                Operation::erase_prefix("/old/"), Operation::range("/new")});
  CHECK(result.succeeded);
  REQUIRE(result.responses.size() == 4);
  CHECK(result.responses[0].kind == Operation::Kind::put);
  CHECK(keys_of(result.responses[1].kvs) == std::vector<std::string>{"/old/1", "/old/2"});
  CHECK(result.responses[2].kind == Operation::Kind::erase);
  CHECK(result.responses[2].deleted == 2);
  REQUIRE(result.responses[3].kvs.size() == 1);
  CHECK(result.responses[3].kvs[0].value == "n");
  CHECK(client.range_prefix("/old/").kvs.empty());
}

// ---------------------------------------------------------------------------
// Errors

TEST_CASE("etcd's refusals are StoreError rejected, with etcd's message and the endpoint",
          "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  auto unknown_lease = store_error_of([&] { client.put("/k", "v", 12345); });
  CHECK(unknown_lease.kind() == StoreError::Kind::rejected);
  CHECK(unknown_lease.code() == 5);
  CHECK(unknown_lease.etcd_message() == "etcdserver: requested lease not found");
  CHECK_THAT(unknown_lease.what(), Catch::Contains(cluster.member(0).endpoint()) &&
                                       Catch::Contains("/v3/kv/put") &&
                                       Catch::Contains("requested lease not found"));
  CHECK_FALSE(unknown_lease.outcome_unknown());

  auto duplicate = store_error_of([&] {
    client.txn({}, {Operation::put("/k", "1"), Operation::put("/k", "2")});
  });
  CHECK(duplicate.kind() == StoreError::Kind::rejected);
  CHECK_THAT(duplicate.etcd_message(), Catch::Contains("duplicate key"));

  auto empty_key = store_error_of([&] { client.put("", "v"); });
  CHECK(empty_key.kind() == StoreError::Kind::rejected);
  CHECK_THAT(empty_key.etcd_message(), Catch::Contains("key is not provided"));

  auto future = store_error_of([&] { client.compact(1000); });
  CHECK(future.kind() == StoreError::Kind::rejected);
  CHECK(future.code() == 11);
  CHECK(to_string(future.kind()) == "rejected");
}

TEST_CASE("A store that is not there is unreachable, naming each endpoint and why", "[etcd]") {
  ClientOptions options;
  auto first = "http://127.0.0.1:" + std::to_string(free_port());
  auto second = "http://127.0.0.1:" + std::to_string(free_port());
  options.endpoints = {first, second};
  Client client(options);
  auto error = store_error_of([&] { client.put("/k", "v"); });
  CHECK(error.kind() == StoreError::Kind::unreachable);
  // Refused: the write never left, it is certainly not applied.
  CHECK_FALSE(error.outcome_unknown());
  std::string what = error.what();
  CHECK_THAT(what, Catch::Contains(first) && Catch::Contains(second) &&
                       Catch::Contains("Couldn't connect"));
  CHECK(what.find('\n') == std::string::npos);
  CHECK(client.requests_sent() == 2);
}

TEST_CASE("An endpoint that answers what etcd never would is malformed, naming it", "[etcd]") {
  SECTION("not JSON") {
    CannedHttpServer server(json_answer("<html>hello</html>"));
    ClientOptions options;
    options.endpoints = {server.endpoint()};
    Client client(options);
    auto error = store_error_of([&] { client.range("/k"); });
    CHECK(error.kind() == StoreError::Kind::malformed);
    CHECK_THAT(error.what(), Catch::Contains(server.endpoint()) && Catch::Contains("<html>"));
  }
  SECTION("JSON of another shape") {
    CannedHttpServer server(json_answer(R"({"kvs": [{"key": "not base64!"}]})"));
    ClientOptions options;
    options.endpoints = {server.endpoint()};
    Client client(options);
    auto error = store_error_of([&] { client.range("/k"); });
    CHECK(error.kind() == StoreError::Kind::malformed);
    CHECK_THAT(error.what(), Catch::Contains("key is not base64"));
  }
  SECTION("an HTTP error that is not etcd's") {
    CannedHttpServer server(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope");
    ClientOptions options;
    options.endpoints = {server.endpoint()};
    Client client(options);
    auto error = store_error_of([&] { client.put("/k", "v"); });
    CHECK(error.kind() == StoreError::Kind::malformed);
    CHECK_THAT(error.what(), Catch::Contains("HTTP 502"));
  }
}

TEST_CASE("on_request sees every call with its duration and outcome", "[etcd]") {
  EtcdCluster cluster;
  auto options = options_for(cluster);
  std::mutex mutex;
  std::vector<bool> outcomes;
  options.on_request = [&](std::chrono::nanoseconds duration, bool ok) {
    std::lock_guard lock{mutex};
    CHECK(duration > 0ns);
    outcomes.push_back(ok);
  };
  Client client(options);
  client.put("/k", "v");
  client.range("/k");
  CHECK_THROWS_AS(client.put("/k", "v", 999), StoreError);
  std::lock_guard lock{mutex};
  CHECK(outcomes == std::vector<bool>{true, true, false});
}

TEST_CASE("Calls from many threads share one client", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  constexpr int threads = 4;
  constexpr int per_thread = 25;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int thread = 0; thread < threads; ++thread)
    workers.emplace_back([&, thread] {
      for (int index = 0; index < per_thread; ++index) {
        try {
          auto key = "/t/" + std::to_string(thread) + "/" + std::to_string(index);
          client.put(key, key);
          if (client.range(key).kvs.at(0).value != key) failures.fetch_add(1);
        } catch (const std::exception&) {
          failures.fetch_add(1);
        }
      }
    });
  for (auto& worker : workers) worker.join();
  CHECK(failures.load() == 0);
  CHECK(client.range_prefix("/t/").kvs.size() == threads * per_thread);
  CHECK(client.requests_sent() == 2 * threads * per_thread + 1);
}

// ---------------------------------------------------------------------------
// Several members, TLS

TEST_CASE("Three members: calls keep working when the member in use is killed", "[etcd]") {
  EtcdCluster cluster(EtcdClusterOptions{.members = 3});
  // The client starts on a follower, so that killing it leaves the leader
  // (no election): every call must get through at once.
  std::size_t follower = 0;
  for (std::size_t index = 0; index < cluster.size(); ++index) {
    ClientOptions one;
    one.endpoints = {cluster.member(index).endpoint()};
    auto status = Client(one).status();
    CHECK(status.version == "3.4.23");
    if (status.member_id != status.leader) follower = index;
  }
  auto options = options_for(cluster);
  std::rotate(options.endpoints.begin(), options.endpoints.begin() + follower,
              options.endpoints.end());
  Client client(options);
  auto lease = client.grant(30);
  client.put("/before", "v", lease.id);
  CHECK(client.current_endpoint() == cluster.member(follower).endpoint());

  cluster.member(follower).kill();
  for (int round = 0; round < 10; ++round) {
    auto key = "/after/" + std::to_string(round);
    CHECK_NOTHROW(client.put(key, "v"));
    CHECK(client.range(key).kvs.size() == 1);
    CHECK(client.txn({Compare::absent(key + "/x")}, {Operation::put(key + "/x", "y")}).succeeded);
    CHECK(client.keep_alive(lease.id).has_value());
  }
  CHECK(client.current_endpoint() != cluster.member(follower).endpoint());
  CHECK(client.range("/before").kvs.size() == 1);
  // Once the dead member was passed over, the next calls go straight to
  // the one that answered: one request per call from then on.
  auto sent = client.requests_sent();
  client.range("/before");
  CHECK(client.requests_sent() == sent + 1);
}

TEST_CASE("https: the cluster's CA gets through, another CA fails naming the certificate",
          "[etcd]") {
  EtcdCluster cluster(EtcdClusterOptions{.tls = true});
  Client client(options_for(cluster));
  auto revision = client.put("/secure", "v");
  CHECK(client.range("/secure").kvs.at(0).mod_revision == revision);

  WatchRecorder recorder;
  auto watch = client.watch({.key = "/secure", .start_revision = revision}, recorder.callbacks());
  REQUIRE(recorder.wait_for_events(1, 10s));
  CHECK(recorder.revisions() == std::vector<std::int64_t>{revision});

  auto options = options_for(cluster);
  options.tls.ca = cluster.tls()->other_ca;
  Client untrusting(options);
  auto error = store_error_of([&] { untrusting.range("/secure"); });
  CHECK(error.kind() == StoreError::Kind::unreachable);
  CHECK_FALSE(error.outcome_unknown());
  CHECK_THAT(error.what(), Catch::Contains(cluster.member(0).endpoint()) &&
                               Catch::Contains("certificate", Catch::CaseSensitive::No));

  options.endpoints = {"http://127.0.0.1:" + std::to_string(cluster.member(0).client_port())};
  Client plain(options);
  CHECK_THROWS_AS(plain.range("/secure"), StoreError);
}

TEST_CASE("https: a store that requires a client certificate accepts the client's", "[etcd]") {
  EtcdCluster cluster(EtcdClusterOptions{.tls = true, .client_certificate_auth = true});
  auto options = options_for(cluster);
  options.tls.certificate = cluster.tls()->client_certificate;
  options.tls.key = cluster.tls()->client_key;
  Client client(options);
  client.put("/mutual", "v");
  CHECK(client.range("/mutual").kvs.at(0).value == "v");

  Client anonymous(options_for(cluster));
  auto error = store_error_of([&] { anonymous.range("/mutual"); });
  CHECK(error.kind() == StoreError::Kind::unreachable);
}

// ---------------------------------------------------------------------------
// Watches

TEST_CASE("A watch delivers the puts and erases of its prefix, one revision per callback",
          "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  WatchRecorder recorder;
  auto watch = client.watch({.key = "/w/", .prefix = true}, recorder.callbacks());
  REQUIRE(recorder.wait_for_state(true, 10s));
  CHECK(watch.connected());

  auto put_one = client.put("/w/a", "1");
  client.put("/elsewhere", "x");  // not watched
  auto put_two = client.put("/w/b", "2");
  auto erase = client.erase("/w/a").revision;
  auto both = client.txn({}, {Operation::put("/w/c", "3"), Operation::put("/w/d", "4")}).revision;
  REQUIRE(recorder.wait_for_events(5, 10s));

  auto deliveries = recorder.deliveries();
  REQUIRE(deliveries.size() == 4);
  CHECK(recorder.revisions() == std::vector<std::int64_t>{put_one, put_two, erase, both});
  CHECK(deliveries[0].events.at(0).type == WatchEvent::Type::put);
  CHECK(deliveries[0].events.at(0).kv.key == "/w/a");
  CHECK(deliveries[0].events.at(0).kv.value == "1");
  CHECK(deliveries[0].events.at(0).kv.version == 1);
  CHECK(deliveries[2].events.at(0).type == WatchEvent::Type::erase);
  CHECK(deliveries[2].events.at(0).kv.key == "/w/a");
  CHECK(deliveries[2].events.at(0).kv.mod_revision == erase);
  REQUIRE(deliveries[3].events.size() == 2);
  CHECK(deliveries[3].events[0].kv.key == "/w/c");
  CHECK(deliveries[3].events[1].kv.key == "/w/d");
  CHECK(watch.next_revision() == both + 1);
  CHECK(watch.streams() == 1);
  CHECK(recorder.states() == std::vector<bool>{true});
}

TEST_CASE("A watch from a past revision replays the history after a read", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  client.put("/h/1", "a");
  auto read = client.range_prefix("/h/");
  auto later = client.put("/h/2", "b");
  auto last = client.put("/h/1", "c");
  WatchRecorder recorder;
  auto watch = client.watch({.key = "/h/", .prefix = true, .start_revision = read.revision + 1},
                            recorder.callbacks());
  REQUIRE(recorder.wait_for_events(2, 10s));
  CHECK(recorder.revisions() == std::vector<std::int64_t>{later, last});
}

TEST_CASE("A watch resumes across etcd restarts without losing or repeating a revision", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  WatchRecorder recorder;
  // A backoff long enough that the writes right after a restart come
  // before the watch is back: it must fetch them from the history.
  auto watch =
      client.watch({.key = "/r/", .prefix = true, .min_backoff = 400ms, .max_backoff = 400ms},
                   recorder.callbacks());
  REQUIRE(recorder.wait_for_state(true, 10s));
  std::vector<std::int64_t> written;
  auto write = [&](int count) {
    for (int index = 0; index < count; ++index)
      written.push_back(client.put("/r/" + std::to_string(written.size()), "v"));
  };
  write(5);
  REQUIRE(recorder.wait_for_events(written.size(), 10s));

  SECTION("killed") {
    cluster.member(0).kill();
  }
  SECTION("stopped") {
    CHECK(cluster.member(0).stop());
  }
  REQUIRE(recorder.wait_for_state(false, 10s));
  CHECK_FALSE(watch.connected());
  cluster.member(0).start();
  REQUIRE(wait_until(
      [&] {
        try {
          client.range("/r/");
          return true;
        } catch (const StoreError&) {
          return false;
        }
      },
      15s, 20ms));
  write(5);
  REQUIRE(recorder.wait_for_events(written.size(), 15s));
  CHECK(recorder.wait_for_state(true, 5s));
  write(2);
  REQUIRE(recorder.wait_for_events(written.size(), 10s));

  CHECK(recorder.revisions() == written);
  CHECK(watch.streams() == 2);
  CHECK(recorder.states() == std::vector<bool>{true, false, true});
}

TEST_CASE("A compacted history makes the watch ask its owner to read again", "[etcd]") {
  EtcdCluster cluster;
  Client client(options_for(cluster));
  auto first = client.put("/c/x", "1");
  client.put("/c/x", "2");
  auto compacted_at = client.put("/c/y", "3");
  client.compact(compacted_at);

  WatchRecorder recorder;
  auto callbacks = recorder.callbacks();
  std::atomic<std::int64_t> told{0};
  std::atomic<std::int64_t> read_at{0};
  callbacks.on_resync = [&](std::int64_t compact_revision) {
    told.store(compact_revision);
    auto read = client.range_prefix("/c/");
    read_at.store(read.revision);
    return read.revision;
  };
  auto watch =
      client.watch({.key = "/c/", .prefix = true, .start_revision = first}, std::move(callbacks));
  REQUIRE(wait_until([&] { return read_at.load() != 0; }, 10s));
  CHECK(told.load() == compacted_at);
  auto after = client.put("/c/z", "4");
  REQUIRE(recorder.wait_for_events(1, 10s));
  // Nothing of what the read saw comes again; what follows comes once.
  CHECK(recorder.revisions() == std::vector<std::int64_t>{after});
}

TEST_CASE("A stream that is not etcd's breaks the watch, which keeps trying", "[etcd]") {
  CannedHttpServer server(json_answer("{\"result\": {\"created\": true}}\nnot json\n"));
  ClientOptions options;
  options.endpoints = {server.endpoint()};
  Client client(options);
  WatchRecorder recorder;
  // The owner's logger hears why (a node's, in the node's log format).
  auto lines = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto logger = std::make_shared<spdlog::logger>("processpype.test.watch", lines);
  auto watch =
      client.watch({.key = "/k", .min_backoff = 10ms, .max_backoff = 20ms, .logger = logger},
                   recorder.callbacks());
  REQUIRE(wait_until([&] { return watch.streams() >= 3; }, 10s));
  CHECK(recorder.event_count() == 0);
  CHECK(recorder.states().at(0) == true);
  CHECK(recorder.states().at(1) == false);
  auto logged = lines->last_formatted();
  REQUIRE_FALSE(logged.empty());
  CHECK_THAT(logged.front(), Catch::Contains("processpype.test.watch") &&
                                 Catch::Contains("etcd watch of /k") &&
                                 Catch::Contains("reconnecting in"));
}
