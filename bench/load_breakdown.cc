// Where a .kestrel load goes: mmap with MAP_POPULATE vs the whole-file
// checksum, medians of 7. Build and run (bench/README.md, "Load time"):
//   g++ -O2 -std=c++20 -Isrc bench/load_breakdown.cc src/format/checksum.cc -o /tmp/load_breakdown
//   /tmp/load_breakdown MODEL.kestrel
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include "format/checksum.h"
int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: load_breakdown MODEL.kestrel\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  struct stat st;
  fstat(fd, &st);
  std::vector<double> map_ms, sum_ms;
  for (int i = 0; i < 7; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    auto t1 = std::chrono::steady_clock::now();
    volatile uint64_t h = kestrel::model_checksum(p, st.st_size);
    auto t2 = std::chrono::steady_clock::now();
    (void)h;
    munmap(p, st.st_size);
    map_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    sum_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::sort(map_ms.begin(), map_ms.end());
  std::sort(sum_ms.begin(), sum_ms.end());
  std::printf("%s: %.1f MB, mmap+populate median %.1f ms, checksum median %.1f ms (%.1f GB/s)\n", argv[1],
              st.st_size / 1e6, map_ms[3], sum_ms[3], st.st_size / 1e6 / sum_ms[3]);
}
