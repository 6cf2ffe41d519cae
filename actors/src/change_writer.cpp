#include "change_writer.hpp"

#include "state_commits.hpp"

namespace processpype {

namespace {

class StateFileWriter final : public ChangeWriter {
 public:
  StateFileWriter(std::shared_ptr<state::StateStore> store, const InstanceRecord& record)
      : store_(std::move(store)),
        name_(record.name()),
        class_key_(record.service_class().key),
        file_instance_(record.origin() == InstanceOrigin::file) {}

  void write(InstanceChange change, Done done) override {
    store_->submit(to_state_changes(std::move(change)),
                   [done = std::move(done)](const state::CommitResult& result) {
                     done(StateCommits::unsaved(result));
                   });
  }

  void write_and_notify(InstanceChange change, const ServiceActor& actor,
                        std::uint64_t ticket) override {
    store_->submit(
        to_state_changes(std::move(change)), [actor, ticket](const state::CommitResult& result) {
          caf::anon_send(actor, committed_atom::value, ticket, StateCommits::unsaved(result));
        });
  }

  bool stop_acts_unwritten() const noexcept override { return true; }

 private:
  std::vector<state::Change> to_state_changes(InstanceChange change) const {
    std::vector<state::Change> changes;
    // A file instance's first change creates its row.
    if (file_instance_) {
      changes.reserve(2);
      changes.push_back(state::Registered{name_, class_key_, state::Origin::file});
    }
    changes.push_back(to_state_change(std::move(change)));
    return changes;
  }

  state::Change to_state_change(InstanceChange change) const {
    if (auto* configured = std::get_if<ConfigurationChange>(&change))
      return state::Configured{name_, std::move(configured->stored)};
    auto running = std::get<DesiredStateChange>(change).running;
    return state::DesiredChanged{
        name_, running ? state::DesiredState::running : state::DesiredState::stopped};
  }

  std::shared_ptr<state::StateStore> store_;
  std::string name_;
  std::string class_key_;
  bool file_instance_;
};

}  // namespace

void ChangeWriter::write_and_notify(InstanceChange change, const ServiceActor& actor,
                                    std::uint64_t ticket) {
  write(std::move(change), [actor, ticket](caf::error failure) {
    caf::anon_send(actor, committed_atom::value, ticket, std::move(failure));
  });
}

std::shared_ptr<ChangeWriter> state_file_writer(std::shared_ptr<state::StateStore> store,
                                                const InstanceRecord& record) {
  return std::make_shared<StateFileWriter>(std::move(store), record);
}

}  // namespace processpype
