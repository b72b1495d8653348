#include "base/status.h"

#include <cstdio>
#include <cstdlib>

namespace kestrel {

void die_on_statusor_error(const Status& status) {
  std::fprintf(stderr, "kestrel: internal error: the value of a failed StatusOr was read (%s)\n",
               status.message().c_str());
  std::abort();
}

}  // namespace kestrel
