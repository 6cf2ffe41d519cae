#include "processpype/state/state_store.hpp"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <variant>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "instance_table.hpp"
#include "processpype/runtime/logging.hpp"
#include "schema.hpp"
#include "sqlite.hpp"
#include "state_files.hpp"

namespace processpype::state {

namespace {

using Clock = std::chrono::steady_clock;

/// How long a statement waits for a lock SQLite holds elsewhere (a backup
/// reading while the writer checkpoints) before it fails.
constexpr int busy_timeout_ms = 5000;
/// The WAL file is truncated to this after a checkpoint, so one large
/// transaction (a reset of many rows) does not leave it large for good.
constexpr const char* journal_size_limit_sql = "PRAGMA journal_size_limit = 16777216;";

/// The reason a file cannot be used, from SQLite's failure.
std::string reason_of(const sqlite::SqliteError& error) {
  switch (error.primary()) {
    case SQLITE_NOTADB:
      return "not a SQLite database";
    case SQLITE_CORRUPT:
      return fmt::format("corrupt ({})", error.what());
    case SQLITE_CANTOPEN:
      return fmt::format("cannot open it ({})", error.what());
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return fmt::format("not writable ({})", error.what());
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return fmt::format("locked by another program ({})", error.what());
    case SQLITE_FULL:
      return fmt::format("disk full ({})", error.what());
    case SQLITE_IOERR:
      return fmt::format("I/O error ({})", error.what());
    default:
      return error.what();
  }
}

void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace

std::string_view to_string(SyncMode sync) noexcept {
  return sync == SyncMode::full ? "full" : "normal";
}

std::optional<SyncMode> sync_mode_from_string(std::string_view text) noexcept {
  if (text == "normal") return SyncMode::normal;
  if (text == "full") return SyncMode::full;
  return std::nullopt;
}

void check_state_path(const std::filesystem::path& path) {
  if (path.empty()) throw StateError("", "no path given");
  try {
    check_database_header(path);
    check_folder(path);
  } catch (const FileProblem& problem) {
    throw StateError(path.string(), problem.what());
  }
}

struct StateStore::Impl {
  struct Submission {
    std::vector<Change> changes;
    CommitCallback done;
  };
  /// Work for the writer thread that is not a submission (load, reset): it
  /// runs between two transactions, in the order it was queued.
  using Task = std::function<void()>;
  using Work = std::variant<Submission, Task>;

  explicit Impl(const Options& given);
  ~Impl();

  void open_database();
  void prepare_statements();

  // -- the writer thread ----------------------------------------------------

  void run_writer();
  void process(std::deque<Work>& taken);
  void write(std::vector<Submission>& batch);
  std::optional<std::string> file_displaced() const;
  void fail(std::vector<Submission>& batch, const std::string& reason);
  CommitResult store(const std::vector<Change>& changes);
  void roll_back() noexcept;
  void deliver(const CommitCallback& done, const CommitResult& result) noexcept;

  /// Runs `work` on the writer thread, after everything queued before, and
  /// returns its result. A SQLite failure rolls back what `work` began and
  /// is thrown as StateError "<failed>: <reason>". `call` names the member
  /// for the error of a call from a commit callback.
  template <class Result>
  Result on_writer(const char* call, const char* failed, std::function<Result()> work);
  void enqueue(Work work);
  void refuse_on_writer(const char* call) const;

  StateError failure(const std::string& reason) const {
    return StateError(options.path.string(), reason);
  }

  Options options;
  std::filesystem::path file;  ///< options.path with symlinks resolved
  std::shared_ptr<spdlog::logger> logger;
  int opened_version = 0;
  StateMetrics metrics;

  // Declared in the order they are opened: destroyed in reverse, the lock
  // last (closing it before SQLite would drop SQLite's locks).
  std::unique_ptr<StateFileLock> lock;
  sqlite::Connection connection;
  std::unique_ptr<InstanceTable> table;
  sqlite::Statement begin;
  sqlite::Statement commit;
  sqlite::Statement savepoint;
  sqlite::Statement release;
  sqlite::Statement rollback_to;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Work> queue;
  bool closing = false;
  std::thread writer;
};

StateStore::Impl::Impl(const Options& given)
    : options(given), logger(make_logger("processpype.state")) {
  if (options.path.empty()) throw StateError("", "no path given");
  try {
    // Before anything is created or its mode narrowed: a file refused is
    // left as it was (docs/state.md, "Opening: what is refused").
    check_database_header(options.path);
    prepare_folder(options.path);
    std::error_code ignored;
    file = std::filesystem::weakly_canonical(options.path, ignored);
    if (file.empty()) file = options.path;
    // The lock first: a second node never changes the file, not even its
    // mode, nor migrates it.
    lock = std::make_unique<StateFileLock>(file);
    narrow_database_modes(file, *logger);
  } catch (const FileProblem& problem) {
    throw failure(problem.what());
  }
  try {
    open_database();
    prepare_statements();
  } catch (const sqlite::SqliteError& error) {
    throw failure(reason_of(error));
  } catch (const NotStateFile&) {
    throw failure(
        "a SQLite database, but not a ProcessPype state file (it has tables and no "
        "schema version)");
  }
  writer = std::thread([this] {
    name_this_thread("pp-state");
    run_writer();
  });
}

StateStore::Impl::~Impl() {
  {
    std::lock_guard guard{mutex};
    closing = true;
  }
  wake.notify_one();
  if (writer.joinable()) writer.join();
}

void StateStore::Impl::open_database() {
  // Only the constructing thread, then the writer thread, use the
  // connection, never both at once: SQLite's own mutexes are not needed.
  connection = sqlite::open(file.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  auto* database = connection.get();
  sqlite3_busy_timeout(database, busy_timeout_ms);
  // The first read of the file: a file that is not a database fails here.
  opened_version = schema_version(database);
  if (opened_version > state::current_schema_version)
    throw failure(fmt::format(
        "written by a newer schema (version {}; this build reads versions up to {}): run a "
        "newer ProcessPype on it",
        opened_version, state::current_schema_version));
  // A damaged file is refused at start, rather than failing writes later:
  // it costs about a tenth of a load() (docs/state.md).
  auto verdict = sqlite::query_text(database, "PRAGMA quick_check(1);");
  if (verdict != "ok") throw failure(fmt::format("corrupt ({})", verdict));
  if (sqlite3_db_readonly(database, "main") == 1) throw failure("not writable (opened read-only)");
  auto journal = sqlite::query_text(database, "PRAGMA journal_mode = WAL;");
  if (journal != "wal")
    throw failure(fmt::format("cannot use a WAL journal (SQLite kept '{}')", journal));
  sqlite::execute(database, options.sync == SyncMode::full ? "PRAGMA synchronous = FULL;"
                                                           : "PRAGMA synchronous = NORMAL;");
  sqlite::execute(database, journal_size_limit_sql);
  if (upgrade_schema(database, opened_version) && opened_version > 0)
    logger->info("State file {}: migrated from schema version {} to {}", options.path.string(),
                 opened_version, state::current_schema_version);
}

void StateStore::Impl::prepare_statements() {
  auto* database = connection.get();
  table = std::make_unique<InstanceTable>(database);
  begin = sqlite::prepare(database, "BEGIN IMMEDIATE;");
  commit = sqlite::prepare(database, "COMMIT;");
  savepoint = sqlite::prepare(database, "SAVEPOINT submission;");
  release = sqlite::prepare(database, "RELEASE submission;");
  rollback_to = sqlite::prepare(database, "ROLLBACK TO submission;");
}

void StateStore::Impl::run_writer() {
  for (;;) {
    std::deque<Work> taken;
    {
      std::unique_lock guard{mutex};
      wake.wait(guard, [this] { return !queue.empty() || closing; });
      if (queue.empty()) return;  // closing, and everything queued is done
      taken.swap(queue);
    }
    process(taken);
  }
}

void StateStore::Impl::process(std::deque<Work>& taken) {
  // Consecutive submissions share one transaction; a task runs between two.
  std::vector<Submission> batch;
  for (auto& work : taken) {
    if (auto* submission = std::get_if<Submission>(&work)) {
      batch.push_back(std::move(*submission));
      continue;
    }
    write(batch);
    batch.clear();
    std::get<Task>(work)();
  }
  write(batch);
}

void StateStore::Impl::write(std::vector<Submission>& batch) {
  if (batch.empty()) return;
  // SQLite would go on writing into a file no path names any more, and the
  // next start would not find what it acknowledged (docs/state.md).
  if (auto displaced = file_displaced()) return fail(batch, *displaced);
  std::vector<CommitResult> results(batch.size());
  auto started = Clock::now();
  try {
    std::uint64_t stored = 0;
    sqlite::run(begin.get());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      results[i] = store(batch[i].changes);
      if (results[i].saved) stored += batch[i].changes.size();
    }
    sqlite::run(commit.get());
    metrics.record_commit(Clock::now() - started, stored);
  } catch (const sqlite::SqliteError& error) {
    roll_back();
    return fail(batch, error.what());
  }
  for (std::size_t i = 0; i < batch.size(); ++i) deliver(batch[i].done, results[i]);
}

std::optional<std::string> StateStore::Impl::file_displaced() const {
  auto displaced = lock->displaced();
  if (!displaced) return std::nullopt;
  return fmt::format("the state file {} {}", options.path.string(), *displaced);
}

void StateStore::Impl::fail(std::vector<Submission>& batch, const std::string& reason) {
  metrics.record_error();
  logger->error("State file {}: a write failed, {} submission(s) not saved: {}",
                options.path.string(), batch.size(), reason);
  for (auto& submission : batch) deliver(submission.done, {false, reason});
}

CommitResult StateStore::Impl::store(const std::vector<Change>& changes) {
  for (const auto& change : changes)
    if (auto refusal = InstanceTable::refusal(change)) return {false, *refusal};
  // One change writes all or nothing by itself; several need a savepoint
  // to take back the first ones when a later one does not fit.
  if (changes.size() == 1) {
    if (auto misfit = table->apply(changes.front())) return {false, *misfit};
    return {true, {}};
  }
  sqlite::run(savepoint.get());
  for (const auto& change : changes)
    if (auto misfit = table->apply(change)) {
      sqlite::run(rollback_to.get());
      sqlite::run(release.get());
      return {false, *misfit};
    }
  sqlite::run(release.get());
  return {true, {}};
}

void StateStore::Impl::roll_back() noexcept {
  // SQLite may have rolled back by itself (e.g. on a full disk).
  if (sqlite3_get_autocommit(connection.get()) == 0)
    sqlite3_exec(connection.get(), "ROLLBACK;", nullptr, nullptr, nullptr);
}

void StateStore::Impl::deliver(const CommitCallback& done, const CommitResult& result) noexcept {
  if (!done) return;
  try {
    done(result);
  } catch (const std::exception& error) {
    logger->error("State file {}: a commit callback threw: {}", options.path.string(),
                  error.what());
  } catch (...) {
    logger->error("State file {}: a commit callback threw", options.path.string());
  }
}

void StateStore::Impl::enqueue(Work work) {
  {
    std::lock_guard guard{mutex};
    if (!closing) {
      queue.push_back(std::move(work));
      work = Task{};
    }
  }
  wake.notify_one();
  if (auto* submission = std::get_if<Submission>(&work))
    deliver(submission->done, {false, "the state store is closing"});
}

void StateStore::Impl::refuse_on_writer(const char* call) const {
  if (std::this_thread::get_id() == writer.get_id())
    throw std::logic_error(fmt::format(
        "StateStore::{} called from a commit callback: it would wait for itself", call));
}

template <class Result>
Result StateStore::Impl::on_writer(const char* call, const char* failed,
                                   std::function<Result()> work) {
  refuse_on_writer(call);
  auto task =
      std::make_shared<std::packaged_task<Result()>>([this, failed, work = std::move(work)] {
        try {
          return work();
        } catch (const sqlite::SqliteError& error) {
          roll_back();
          metrics.record_error();
          throw failure(fmt::format("{}: {}", failed, reason_of(error)));
        }
      });
  auto result = task->get_future();
  enqueue(Task{[task] { (*task)(); }});
  return result.get();
}

// -- StateStore -----------------------------------------------------------------

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StateStore::~StateStore() = default;

std::unique_ptr<StateStore> StateStore::open(const Options& options) {
  return std::unique_ptr<StateStore>(new StateStore(std::make_unique<Impl>(options)));
}

void StateStore::submit(std::vector<Change> changes, CommitCallback done) {
  impl_->enqueue(Impl::Submission{std::move(changes), std::move(done)});
}

void StateStore::submit(Change change, CommitCallback done) {
  std::vector<Change> changes;
  changes.push_back(std::move(change));
  submit(std::move(changes), std::move(done));
}

CommitResult StateStore::commit(std::vector<Change> changes) {
  impl_->refuse_on_writer("commit");
  auto promise = std::make_shared<std::promise<CommitResult>>();
  auto result = promise->get_future();
  submit(std::move(changes),
         [promise](const CommitResult& outcome) { promise->set_value(outcome); });
  return result.get();
}

CommitResult StateStore::commit(Change change) {
  std::vector<Change> changes;
  changes.push_back(std::move(change));
  return commit(std::move(changes));
}

std::vector<StoredInstance> StateStore::load() {
  return impl_->on_writer<std::vector<StoredInstance>>("load", "cannot be read",
                                                       [this] { return impl_->table->load(); });
}

void StateStore::reset() {
  impl_->on_writer<void>("reset", "cannot reset it", [this] {
    sqlite::run(impl_->begin.get());
    impl_->table->clear();
    sqlite::run(impl_->commit.get());
  });
}

void StateStore::backup(const std::filesystem::path& destination) {
  auto& impl = *impl_;
  auto cannot = [&](const std::exception& error) {
    impl.metrics.record_error();
    return impl.failure(
        fmt::format("cannot back up to {}: {}", destination.string(), error.what()));
  };
  try {
    create_backup_file(destination);
  } catch (const FileProblem& problem) {
    throw cannot(problem);
  }
  try {
    // A connection of its own: it reads one consistent snapshot while the
    // writer goes on committing (WAL readers never block the writer).
    auto reader = sqlite::open(impl.file.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(reader.get(), busy_timeout_ms);
    auto vacuum = sqlite::prepare(reader.get(), "VACUUM INTO ?1;");
    sqlite::bind_text(vacuum.get(), 1, destination.string());
    sqlite::run(vacuum.get());
    // VACUUM INTO does not sync what it wrote: a backup that a power loss
    // right after could lose would not be one.
    sync_file(destination);
  } catch (const std::runtime_error& error) {  // sqlite::SqliteError or FileProblem
    std::error_code ignored;
    std::filesystem::remove(destination, ignored);
    throw cannot(error);
  }
}

AppliedSettings StateStore::applied_settings() {
  return impl_->on_writer<AppliedSettings>("applied_settings", "cannot read its settings", [this] {
    auto* database = impl_->connection.get();
    AppliedSettings settings;
    settings.journal_mode = sqlite::query_text(database, "PRAGMA journal_mode;");
    auto synchronous = sqlite::query_integer(database, "PRAGMA synchronous;");
    if (synchronous == 1) settings.sync = SyncMode::normal;
    if (synchronous == 2) settings.sync = SyncMode::full;
    settings.schema_version =
        static_cast<int>(sqlite::query_integer(database, "PRAGMA user_version;"));
    return settings;
  });
}

const StateMetrics& StateStore::metrics() const noexcept {
  return impl_->metrics;
}

const std::filesystem::path& StateStore::path() const noexcept {
  return impl_->options.path;
}

SyncMode StateStore::sync() const noexcept {
  return impl_->options.sync;
}

int StateStore::opened_schema_version() const noexcept {
  return impl_->opened_version;
}

int StateStore::current_schema_version() noexcept {
  return state::current_schema_version;
}

}  // namespace processpype::state
