#include "ir/attributes.h"

namespace kestrel {

namespace {
template <typename T>
const T* find_as(const std::map<std::string, AttributeValue>& values, const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) return nullptr;
  return std::get_if<T>(&it->second);
}
}  // namespace

int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  if (const auto* value = find_as<int64_t>(values_, name)) return *value;
  return fallback;
}

float Attributes::get_float(const std::string& name, float fallback) const {
  if (const auto* value = find_as<float>(values_, name)) return *value;
  if (const auto* value = find_as<int64_t>(values_, name)) return static_cast<float>(*value);
  return fallback;
}

std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  if (const auto* value = find_as<std::string>(values_, name)) return *value;
  return fallback;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name, std::vector<int64_t> fallback) const {
  if (const auto* value = find_as<std::vector<int64_t>>(values_, name)) return *value;
  return fallback;
}

std::vector<float> Attributes::get_floats(const std::string& name, std::vector<float> fallback) const {
  if (const auto* value = find_as<std::vector<float>>(values_, name)) return *value;
  return fallback;
}

const Tensor* Attributes::get_tensor(const std::string& name) const { return find_as<Tensor>(values_, name); }

}  // namespace kestrel
