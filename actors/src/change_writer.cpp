#include "change_writer.hpp"

#include "state_commits.hpp"

namespace processpype {

namespace {

class StateFileWriter final : public ChangeWriter,
                              public std::enable_shared_from_this<StateFileWriter> {
 public:
  StateFileWriter(std::shared_ptr<state::StateStore> store, std::string name, std::string class_key,
                  InstanceOrigin origin, std::optional<nlohmann::json> stored_configuration)
      : store_(std::move(store)),
        name_(std::move(name)),
        class_key_(std::move(class_key)),
        file_instance_(origin == InstanceOrigin::file),
        stored_configuration_(std::move(stored_configuration)) {}

  void write(InstanceChange change, Done done) override {
    std::lock_guard lock{submitting_};
    if (retired_) return done(being_deregistered()), void();
    auto* configured = std::get_if<ConfigurationChange>(&change);
    if (configured == nullptr) {
      store_->submit(to_state_changes(std::move(change)),
                     [done = std::move(done)](const state::CommitResult& result) {
                       done(StateCommits::unsaved(result));
                     });
      return;
    }
    auto written = configured->stored;  // the store takes the change
    store_->submit(to_state_changes(std::move(change)),
                   [self = shared_from_this(), written = std::move(written),
                    done = std::move(done)](const state::CommitResult& result) {
                     if (result.saved) self->stored_configuration_.set(written);
                     done(StateCommits::unsaved(result));
                   });
  }

  void write_and_notify(InstanceChange change, const ServiceActor& actor,
                        std::uint64_t ticket) override {
    // A configure goes through write(), which remembers what it stored.
    if (std::holds_alternative<ConfigurationChange>(change))
      return ChangeWriter::write_and_notify(std::move(change), actor, ticket);
    std::lock_guard lock{submitting_};
    if (retired_)
      return caf::anon_send(actor, committed_atom::value, ticket, being_deregistered()), void();
    store_->submit(
        to_state_changes(std::move(change)), [actor, ticket](const state::CommitResult& result) {
          caf::anon_send(actor, committed_atom::value, ticket, StateCommits::unsaved(result));
        });
  }

  bool stop_acts_unwritten() const noexcept override { return true; }

  void retire() override {
    std::lock_guard lock{submitting_};
    retired_ = true;
  }

  std::optional<nlohmann::json> stored_configuration() const override {
    return stored_configuration_.get();
  }

 private:
  caf::error being_deregistered() const {
    return make_error(ErrorCode::conflict, "Service " + name_ + " is being deregistered");
  }

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
    if (auto* configured = std::get_if<ConfigurationChange>(&change)) {
      if (!configured->stored) return state::Unconfigured{name_};
      return state::Configured{name_, std::move(*configured->stored)};
    }
    auto running = std::get<DesiredStateChange>(change).running;
    return state::DesiredChanged{
        name_, running ? state::DesiredState::running : state::DesiredState::stopped};
  }

  std::shared_ptr<state::StateStore> store_;
  std::string name_;
  std::string class_key_;
  bool file_instance_;
  LockedValue<std::optional<nlohmann::json>> stored_configuration_;
  /// Held while a change is submitted, and by retire(): the store takes
  /// submissions in order, so none comes after the deregistration's.
  std::mutex submitting_;
  bool retired_ = false;
};

}  // namespace

void ChangeWriter::write_and_notify(InstanceChange change, const ServiceActor& actor,
                                    std::uint64_t ticket) {
  write(std::move(change), [actor, ticket](caf::error failure) {
    caf::anon_send(actor, committed_atom::value, ticket, std::move(failure));
  });
}

std::shared_ptr<ChangeWriter> state_file_writer(
    std::shared_ptr<state::StateStore> store, std::string name, std::string class_key,
    InstanceOrigin origin, std::optional<nlohmann::json> stored_configuration) {
  return std::make_shared<StateFileWriter>(std::move(store), std::move(name), std::move(class_key),
                                           origin, std::move(stored_configuration));
}

std::shared_ptr<ChangeWriter> state_file_writer(std::shared_ptr<state::StateStore> store,
                                                const InstanceRecord& record) {
  return state_file_writer(std::move(store), record.name(), record.service_class().key,
                           record.origin());
}

}  // namespace processpype
