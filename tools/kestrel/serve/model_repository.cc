#include "serve/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace kestrel::serve {
namespace {

namespace fs = std::filesystem;

bool is_version_name(const std::string& name) {
  return !name.empty() && name.size() <= 18 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Directory entries, sorted; an unreadable folder is an error naming it.
StatusOr<std::vector<fs::directory_entry>> list_dir(const fs::path& dir) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) return invalid_argument("cannot read ", dir.string(), ": ", error.message());
  std::vector<fs::directory_entry> entries;
  for (const fs::directory_entry& entry : it) entries.push_back(entry);
  std::sort(entries.begin(), entries.end(),
            [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path() < b.path(); });
  return entries;
}

StatusOr<std::string> version_model_file(const fs::path& version_dir) {
  KESTREL_ASSIGN_OR_RETURN(const std::vector<fs::directory_entry> entries, list_dir(version_dir));
  std::vector<std::string> files;
  for (const fs::directory_entry& entry : entries) {
    std::error_code error;
    if (entry.path().extension() == ".kestrel" && entry.is_regular_file(error)) files.push_back(entry.path().string());
  }
  if (files.empty())
    return invalid_argument(version_dir.string(), " holds no .kestrel file (a version folder holds one)");
  if (files.size() > 1) {
    std::string names;
    for (const std::string& file : files) names += (names.empty() ? "" : ", ") + fs::path(file).filename().string();
    return invalid_argument(version_dir.string(), " holds ", files.size(), " .kestrel files (", names,
                            "); a version folder holds exactly one");
  }
  return files.front();
}

Status scan_model_folder(const fs::path& model_dir, std::vector<ModelLocation>& locations) {
  KESTREL_ASSIGN_OR_RETURN(const std::vector<fs::directory_entry> entries, list_dir(model_dir));
  std::vector<std::pair<uint64_t, fs::path>> versions;
  for (const fs::directory_entry& entry : entries) {
    std::error_code error;
    const std::string name = entry.path().filename().string();
    if (entry.is_directory(error) && is_version_name(name)) versions.emplace_back(std::stoull(name), entry.path());
  }
  if (versions.empty()) {
    return invalid_argument(model_dir.string(), " has no numbered version folder (expected ",
                            (model_dir / "1" / "model.kestrel").string(), ")");
  }
  std::sort(versions.begin(), versions.end());
  for (size_t i = 1; i < versions.size(); ++i) {
    if (versions[i].first == versions[i - 1].first) {
      return invalid_argument(versions[i - 1].second.string(), " and ", versions[i].second.string(),
                              " are the same version");
    }
  }
  for (const auto& [number, dir] : versions) {
    KESTREL_ASSIGN_OR_RETURN(std::string file, version_model_file(dir));
    locations.push_back({model_dir.filename().string(), std::to_string(number), std::move(file)});
  }
  return {};
}

// The model folders of a repository: its sub-folders, hidden ones left out, sorted.
StatusOr<std::vector<fs::path>> model_folders(const fs::path& dir) {
  KESTREL_ASSIGN_OR_RETURN(const std::vector<fs::directory_entry> entries, list_dir(dir));
  std::vector<fs::path> folders;
  for (const fs::directory_entry& entry : entries) {
    std::error_code error;
    if (entry.is_directory(error) && !entry.path().filename().string().starts_with("."))
      folders.push_back(entry.path());
  }
  return folders;
}

// What a model folder holds, as one string: every entry two levels down
// with its size and modification time. Empty when it cannot be read.
std::string folder_fingerprint(const fs::path& model_dir) {
  std::error_code error;
  std::vector<std::string> lines;
  for (fs::recursive_directory_iterator it(model_dir, error), end; !error && it != end; it.increment(error)) {
    if (it.depth() > 1) {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code entry_error;
    const auto size = it->is_regular_file(entry_error) ? it->file_size(entry_error) : 0;
    const auto time = it->last_write_time(entry_error).time_since_epoch().count();
    lines.push_back(fs::relative(it->path(), model_dir, entry_error).string() + " " + std::to_string(size) + " " +
                    std::to_string(time));
  }
  std::sort(lines.begin(), lines.end());
  std::string fingerprint;
  for (const std::string& line : lines) fingerprint += line + "\n";
  return fingerprint;
}

}  // namespace

StatusOr<std::vector<ModelLocation>> scan_model_repository(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) return invalid_argument("model repository ", dir, " is not a directory");
  KESTREL_ASSIGN_OR_RETURN(const std::vector<fs::path> folders, model_folders(dir));
  std::vector<ModelLocation> locations;
  for (const fs::path& folder : folders) KESTREL_RETURN_IF_ERROR(scan_model_folder(folder, locations));
  if (locations.empty()) {
    return invalid_argument("model repository ", dir, " holds no model folder (expected ",
                            (fs::path(dir) / "NAME" / "1" / "model.kestrel").string(), ")");
  }
  return locations;
}

ServedModel::ServedModel(ModelLocation location, api::Model model, ModelMetrics& metrics)
    : location_(std::move(location)), model_(std::move(model)), metrics_(metrics) {}

ServedModel::~ServedModel() {
  if (batcher_) batcher_->shutdown();  // before the runners it calls go
  metrics_.detach(this);
}

StatusOr<std::shared_ptr<ServedModel>> ServedModel::load(const ModelLocation& location, const ExecutionOptions& options,
                                                         MetricsRegistry& registry) {
  const std::string what = "model '" + location.name + "' version " + location.version + " (" + location.path + ")";
  std::shared_ptr<ServedModel> served;
  try {
    api::Model model = api::Model::load(location.path);  // first: a file that does not load adds no metrics
    served.reset(new ServedModel(location, std::move(model), registry.add(location.name, location.version)));
    KESTREL_ASSIGN_OR_RETURN(served->signature_, model_signature(served->model_));
  } catch (const api::Error& error) {
    return invalid_argument("cannot load ", what, ": ", error.what());
  }
  served->runners_.resize(static_cast<size_t>(std::max(options.sessions, 1)));
  ServedModel* self = served.get();
  const api::SessionOptions session_options{.threads = options.threads};
  // Each worker creates the session it runs, on its own thread: made on
  // another thread, a session ran RN50 INT8 at 7.0 instead of 3.2 ms here
  // (libgomp throttles its spin-waiting once more OpenMP threads than cores
  // exist; docs/api.md, "Threads").
  Batcher::Options batching{.max_batch = batch_capacity(served->signature_, options.max_batch),
                            .max_queue_delay = options.max_queue_delay,
                            .max_queue = options.max_queue,
                            .workers = served->runners_.size(),
                            .setup = [self, session_options](size_t worker) -> Status {
                              try {
                                self->runners_[worker] = std::make_unique<SessionRunner>(
                                    self->model_, self->signature_, session_options, self->metrics_);
                              } catch (const api::Error& error) {
                                return invalid_argument(error.what());
                              }
                              return {};
                            }};
  served->batcher_ = std::make_unique<Batcher>(batching, [self](size_t worker, std::span<InferRequest* const> batch) {
    return self->runners_[worker]->run(batch);
  });
  const Status ready = served->batcher_->ready();
  if (!ready.ok()) return invalid_argument("cannot load ", what, ": ", ready.message());
  return served;
}

void ServedModel::publish() {
  metrics_.attach(this, [this] { return batcher_->queue_depth(); });
}

StatusOr<ModelRepository::Versions> ModelRepository::load_versions(const std::vector<ModelLocation>& locations,
                                                                   const ExecutionOptions& options,
                                                                   MetricsRegistry& registry) {
  Versions versions;
  for (const ModelLocation& location : locations) {
    KESTREL_ASSIGN_OR_RETURN(std::shared_ptr<ServedModel> model, ServedModel::load(location, options, registry));
    versions.push_back(std::move(model));
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return std::stoull(a->version()) < std::stoull(b->version()); });
  return versions;
}

StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::load(const std::vector<ModelLocation>& locations,
                                                                 const ExecutionOptions& options,
                                                                 MetricsRegistry& registry, std::string dir) {
  auto repository = std::make_unique<ModelRepository>();
  repository->dir_ = std::move(dir);
  repository->options_ = options;
  repository->registry_ = &registry;
  std::map<std::string, std::vector<ModelLocation>> by_name;
  for (const ModelLocation& location : locations) by_name[location.name].push_back(location);
  for (const auto& [name, model_locations] : by_name) {
    if (!repository->dir_.empty())
      repository->fingerprints_[name] = folder_fingerprint(fs::path(repository->dir_) / name);
    KESTREL_ASSIGN_OR_RETURN(repository->models_[name], load_versions(model_locations, options, registry));
    for (const auto& model : repository->models_[name]) model->publish();
  }
  return repository;
}

Status ModelRepository::needs_folder(const char* consequence) const {
  if (dir_.empty())
    return invalid_argument("the server was started with --model, not --model-repository: ", consequence);
  return {};
}

Status ModelRepository::load_model(const std::string& name) {
  KESTREL_RETURN_IF_ERROR(needs_folder("nothing to load from"));
  if (name.empty() || name.starts_with(".") || name.find('/') != std::string::npos) {
    return invalid_argument("model name '", name, "' is not a folder name of the repository");
  }
  const std::lock_guard control(control_mutex_);
  const fs::path model_dir = fs::path(dir_) / name;
  std::error_code error;
  if (!fs::is_directory(model_dir, error)) {
    return Status(StatusCode::kNotFound, "no model folder " + model_dir.string() + " in the repository");
  }
  fingerprints_[name] = folder_fingerprint(model_dir);  // before reading it: a change while loading is seen next time
  std::vector<ModelLocation> locations;
  KESTREL_RETURN_IF_ERROR(scan_model_folder(model_dir, locations));
  KESTREL_ASSIGN_OR_RETURN(Versions versions, load_versions(locations, options_, *registry_));
  Versions old;
  {
    const std::unique_lock lock(mutex_);
    Versions& slot = models_[name];
    old = std::move(slot);
    slot = std::move(versions);
    for (const auto& model : slot) model->publish();  // after the swap: a failed load never published
  }
  return {};  // `old` goes here or with the last request still holding it
}

void ModelRepository::poll(std::ostream& log) {
  if (dir_.empty()) return;
  StatusOr<std::vector<fs::path>> folders = model_folders(dir_);
  if (!folders.ok()) {
    log << "kestrel serve: repository poll: " << folders.status().message() << "\n";
    return;
  }
  std::map<std::string, std::string> now;
  for (const fs::path& folder : *folders) now[folder.filename().string()] = folder_fingerprint(folder);
  std::vector<std::string> changed, gone;
  {
    const std::lock_guard control(control_mutex_);
    for (const auto& [name, fingerprint] : now) {
      const auto it = fingerprints_.find(name);
      if (it == fingerprints_.end() || it->second != fingerprint) changed.push_back(name);
    }
    for (const auto& [name, fingerprint] : fingerprints_) {
      if (!now.contains(name)) gone.push_back(name);
    }
  }
  for (const std::string& name : changed) {
    const Status loaded = load_model(name);
    if (loaded.ok()) {
      log << "kestrel serve: repository poll: loaded model '" << name << "', versions";
      for (const std::string& version : versions(name)) log << " " << version;
      log << "\n";
    } else {
      log << "kestrel serve: repository poll: model '" << name << "' not loaded: " << loaded.message() << "\n";
    }
  }
  for (const std::string& name : gone) {
    const Status unloaded = unload_model(name);
    {
      const std::lock_guard control(control_mutex_);
      fingerprints_.erase(name);
    }
    if (unloaded.ok()) log << "kestrel serve: repository poll: unloaded model '" << name << "' (its folder is gone)\n";
  }
  log.flush();
}

Status ModelRepository::unload_model(const std::string& name) {
  KESTREL_RETURN_IF_ERROR(needs_folder("no unloading (it could not be loaded again)"));
  const std::lock_guard control(control_mutex_);
  Versions old;
  {
    const std::unique_lock lock(mutex_);
    const auto it = models_.find(name);
    if (it == models_.end()) return Status(StatusCode::kNotFound, "model '" + name + "' is not loaded");
    old = std::move(it->second);
    models_.erase(it);
  }
  return {};
}

std::vector<ModelRepository::IndexEntry> ModelRepository::index() const {
  std::map<std::string, std::vector<IndexEntry>> entries;
  if (!dir_.empty()) {
    if (StatusOr<std::vector<fs::path>> folders = model_folders(dir_); folders.ok()) {
      for (const fs::path& folder : *folders) {
        const std::string name = folder.filename().string();
        entries[name] = {{.name = name, .version = "", .state = "UNAVAILABLE", .reason = "unloaded"}};
      }
    }
  }
  {
    const std::shared_lock lock(mutex_);
    for (const auto& [name, versions] : models_) {
      std::vector<IndexEntry>& list = entries[name];
      list.clear();
      for (const auto& model : versions) list.push_back({.name = name, .version = model->version(), .state = "READY"});
    }
  }
  std::vector<IndexEntry> result;
  for (auto& [name, list] : entries) {
    for (IndexEntry& entry : list) result.push_back(std::move(entry));
  }
  return result;
}

ModelHandle ModelRepository::find(const std::string& name, const std::string& version) const {
  const std::shared_lock lock(mutex_);
  const auto it = models_.find(name);
  if (it == models_.end() || it->second.empty()) return nullptr;
  if (version.empty()) return it->second.back();
  for (const auto& model : it->second) {
    if (model->version() == version) return model;
  }
  return nullptr;
}

std::vector<std::string> ModelRepository::versions(const std::string& name) const {
  const std::shared_lock lock(mutex_);
  std::vector<std::string> result;
  const auto it = models_.find(name);
  if (it == models_.end()) return result;
  for (const auto& model : it->second) result.push_back(model->version());
  return result;
}

std::vector<ModelHandle> ModelRepository::models() const {
  const std::shared_lock lock(mutex_);
  std::vector<ModelHandle> result;
  for (const auto& [name, versions] : models_) {
    for (const auto& model : versions) result.push_back(model);
  }
  return result;
}

void ModelRepository::shutdown() {
  for (const ModelHandle& model : models()) model->batcher().shutdown();
}

}  // namespace kestrel::serve
