#include "io/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/status.h"

namespace kestrel {
namespace {

constexpr int64_t kBarWidth = 30;
constexpr int64_t kSecondsPerMinute = 60;
constexpr int64_t kSecondsPerHour = 60 * kSecondsPerMinute;

// "7 s", "2 min 5 s", "1 h 3 min": whole seconds are precise enough for a guess.
std::string duration_text(double seconds) {
  const int64_t whole = std::llround(seconds);
  if (whole < kSecondsPerMinute) return str_cat(whole, " s");
  if (whole < kSecondsPerHour) return str_cat(whole / kSecondsPerMinute, " min ", whole % kSecondsPerMinute, " s");
  return str_cat(whole / kSecondsPerHour, " h ", whole % kSecondsPerHour / kSecondsPerMinute, " min");
}

}  // namespace

std::string progress_line(const std::string& label, int64_t done, int64_t total, double seconds) {
  const int64_t clamped = std::clamp<int64_t>(done, 0, std::max<int64_t>(total, 0));
  const int64_t filled = total > 0 ? clamped * kBarWidth / total : kBarWidth;
  const double rate = seconds > 0 ? static_cast<double>(clamped) / seconds : 0.0;
  char rate_text[32];
  std::snprintf(rate_text, sizeof(rate_text), "%.1f", rate);
  // No rate yet, no estimate: "ETA ?" rather than an infinite one.
  const std::string eta = clamped >= total ? duration_text(0)
                          : rate > 0       ? duration_text(static_cast<double>(total - clamped) / rate)
                                           : std::string("?");
  return str_cat(label, label.empty() ? "" : " ", "[", std::string(static_cast<size_t>(filled), '#'),
                 std::string(static_cast<size_t>(kBarWidth - filled), '.'), "] ", clamped, "/", total, " images, ",
                 rate_text, " images/s, ETA ", eta);
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(Clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && drawn_ && !finished_) std::fputc('\n', stderr);
}

void ProgressBar::update(int64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  if (done < total_ && Clock::now() - last_draw_ < kRedrawInterval) return;
  draw();
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  draw();
  std::fputc('\n', stderr);
  finished_ = true;
}

bool ProgressBar::stderr_is_terminal() { return isatty(STDERR_FILENO) != 0; }

void ProgressBar::draw() {
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = progress_line(label_, done_, total_, seconds);
  const size_t length = line.size();
  if (length < last_length_) line.append(last_length_ - length, ' ');
  std::fprintf(stderr, "\r%s", line.c_str());
  std::fflush(stderr);
  last_length_ = length;
  last_draw_ = now;
  drawn_ = true;
}

}  // namespace kestrel
