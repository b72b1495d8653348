// A one-line progress bar on stderr for loops over a dataset (eval,
// calibration), redrawn in place with a carriage return:
//   eval [############..................] 256/512 images, 123.4 images/s, ETA 2 s
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kestrel {

class ProgressBar {
 public:
  // Draws nothing when !enabled: a bar in a log file or a pipe is noise.
  ProgressBar(std::string label, int64_t total, bool enabled);
  // Ends the line if finish() was not called, so that an error message
  // printed after a failed loop starts on a line of its own.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of `total` images are finished. Redraws at most every
  // kRedrawInterval (and always when done reaches total).
  void update(int64_t done);
  // Draws the final state and ends the line; later calls do nothing.
  void finish();

  static bool stderr_is_terminal();

 private:
  using Clock = std::chrono::steady_clock;
  // Ten redraws a second look smooth and cost nothing next to inference.
  static constexpr std::chrono::milliseconds kRedrawInterval{100};

  void draw();

  std::string label_;
  int64_t total_;
  bool enabled_;
  bool finished_ = false;
  bool drawn_ = false;  // something is on the line, so it needs ending
  int64_t done_ = 0;
  size_t last_length_ = 0;  // of the last line drawn, to blank its tail when the new one is shorter
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

// One line of the bar without the carriage return, for `done` of `total`
// images after `seconds`.
std::string progress_line(const std::string& label, int64_t done, int64_t total, double seconds);

}  // namespace kestrel
