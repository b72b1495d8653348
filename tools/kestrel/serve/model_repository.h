// The models a server serves: a repository folder laid out as Triton's and
// KServe's (DIR/NAME/VERSION/one .kestrel file; the highest version is the
// default), each version loaded with its session pool and batcher. A model
// can be loaded again (every version of its folder, replacing the ones
// served) or unloaded while the server runs; a request holds the model it
// found until it is answered, so requests in flight finish on the old one.
#pragma once

#include <chrono>
#include <kestrel/kestrel.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "serve/batcher.h"
#include "serve/metrics.h"
#include "serve/model_runner.h"
#include "serve/protocol.h"

namespace kestrel::serve {

struct ModelLocation {
  std::string name, version, path;
};

// Checks the layout: at least one model folder; in each, at least one
// numbered version folder; in each of those, exactly one .kestrel file.
// Other files, and folders whose names are not numbers, are ignored.
StatusOr<std::vector<ModelLocation>> scan_model_repository(const std::string& dir);

struct ExecutionOptions {
  int sessions = 1;       // per model version
  int threads = 1;        // per session
  int64_t max_batch = 0;  // rows per run; 0: the model's max batch
  std::chrono::microseconds max_queue_delay{500};
  size_t max_queue = 256;
};

class ServedModel {
 public:
  static StatusOr<std::shared_ptr<ServedModel>> load(const ModelLocation& location, const ExecutionOptions& options,
                                                     MetricsRegistry& registry);
  ~ServedModel();
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  const std::string& name() const { return location_.name; }
  const std::string& version() const { return location_.version; }
  const std::string& path() const { return location_.path; }
  const ModelSignature& signature() const { return signature_; }
  Batcher& batcher() const { return *batcher_; }
  ModelMetrics& metrics() const { return metrics_; }
  int64_t batch_rows() const { return batcher_->options().max_batch; }
  // Reports this version in the metrics as the one serving its name and
  // version (ready, its queue depth); done once it is in the repository.
  void publish();

 private:
  ServedModel(ModelLocation location, api::Model model, ModelMetrics& metrics);

  ModelLocation location_;
  api::Model model_;  // before the sessions, which use it
  ModelSignature signature_;
  ModelMetrics& metrics_;
  std::vector<std::unique_ptr<SessionRunner>> runners_;
  std::unique_ptr<Batcher> batcher_;
};

// A served model version, kept alive while a request uses it.
using ModelHandle = std::shared_ptr<const ServedModel>;

class ModelRepository {
 public:
  // `dir`: the repository folder the locations came from, for load_model()
  // and index(); empty for models given one by one (they cannot be reloaded).
  static StatusOr<std::unique_ptr<ModelRepository>> load(const std::vector<ModelLocation>& locations,
                                                         const ExecutionOptions& options, MetricsRegistry& registry,
                                                         std::string dir = "");

  // `version` empty: the highest. Null when there is no such model or version.
  ModelHandle find(const std::string& name, const std::string& version) const;
  // The model's versions, lowest first; empty for an unknown model.
  std::vector<std::string> versions(const std::string& name) const;
  std::vector<ModelHandle> models() const;

  // Loads every version in DIR/name afresh and serves them instead of the
  // model's current versions (none, for a model not loaded yet). On an error
  // (naming the path) nothing changes.
  Status load_model(const std::string& name);
  // Stops serving the model; requests already holding it are answered.
  // kNotFound when it is not loaded.
  Status unload_model(const std::string& name);
  // Compares every model folder with what it held at its last load (file
  // names, sizes and modification times): loads the new and changed ones,
  // unloads the models whose folder is gone. A model unloaded on request
  // stays unloaded until its folder changes. One line per change on `log`.
  void poll(std::ostream& log);

  struct IndexEntry {
    std::string name, version, state, reason;  // state READY or UNAVAILABLE
  };
  // Every model folder in the repository and every model served, with its
  // versions when loaded.
  std::vector<IndexEntry> index() const;

  // Runs every queued request, then stops the batchers.
  void shutdown();

 private:
  using Versions = std::vector<std::shared_ptr<ServedModel>>;  // ascending version number
  // An error naming `consequence` for a server of --model files (no folder).
  Status needs_folder(const char* consequence) const;
  static StatusOr<Versions> load_versions(const std::vector<ModelLocation>& locations, const ExecutionOptions& options,
                                          MetricsRegistry& registry);

  std::string dir_;
  ExecutionOptions options_;
  MetricsRegistry* registry_ = nullptr;
  std::mutex control_mutex_;         // one load or unload at a time
  mutable std::shared_mutex mutex_;  // guards models_
  std::map<std::string, Versions> models_;
  std::map<std::string, std::string> fingerprints_;  // folder name -> contents at its last load (under control_mutex_)
};

}  // namespace kestrel::serve
