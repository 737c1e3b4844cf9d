#pragma once
/// Path and key templates of descriptors and options: `{name}` placeholders, e.g.
/// `fmri/{subject}/…_atlas-{atlas}_bold.h5`, `{subject}_task-objectviewing_{episode}_events.tsv`.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brainsweep {

/// `tpl` with every `{name}` replaced by its value, for each (name, value) in order; text without
/// a placeholder is kept as it is (unknown placeholders too).
inline std::string fill_template(std::string tpl, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [name, value] : values) {
    const std::string key = "{" + name + "}";
    for (size_t pos = 0; (pos = tpl.find(key, pos)) != std::string::npos; pos += value.size())
      tpl.replace(pos, key.size(), value);
  }
  return tpl;
}

}  // namespace brainsweep
