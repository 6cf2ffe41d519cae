// The state file's ChangeWriter against a real state store: a writer
// retired by a deregistration refuses what comes after, so nothing lands
// after the instance's tombstone (docs/state.md, "What is stored").
#include <filesystem>
#include <future>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "change_writer.hpp"
#include "processpype/state/state_store.hpp"

using namespace processpype;

namespace {

/// Writes `change` through `writer` and waits for its outcome.
caf::error write_through(ChangeWriter& writer, InstanceChange change) {
  std::promise<caf::error> outcome;
  writer.write(std::move(change),
               [&](caf::error failure) { outcome.set_value(std::move(failure)); });
  return outcome.get_future().get();
}

}  // namespace

TEST_CASE("A retired writer refuses changes, so a file instance's tombstone stays",
          "[change_writer]") {
  auto folder = std::filesystem::temp_directory_path() /
                ("processpype-writer-" + std::to_string(std::random_device{}()));
  {
    auto store = std::shared_ptr<state::StateStore>(state::StateStore::open({folder / "state.db"}));
    auto writer = state_file_writer(store, "greeter", "echo", InstanceOrigin::file, std::nullopt);
    CHECK_FALSE(write_through(*writer, ConfigurationChange{nlohmann::json{{"prefix", "A"}}}));

    // The deregistration: the writer retires, then the tombstone is written.
    writer->retire();
    REQUIRE(store
                ->commit({state::Registered{"greeter", "echo", state::Origin::file},
                          state::Deregistered{"greeter", true}})
                .saved);
    // A configure the service refused, written back after the tombstone,
    // would re-create the row (a file instance's change registers it).
    auto refused = write_through(*writer, ConfigurationChange{std::nullopt});
    REQUIRE(refused);
    CHECK(to_error(refused).code() == ErrorCode::conflict);
    CHECK(to_error(refused).detail() == "Service greeter is being deregistered");

    auto rows = store->load();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].deregistered);
  }
  std::filesystem::remove_all(folder);
}
