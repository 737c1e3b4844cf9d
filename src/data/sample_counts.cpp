// Test-set sample counts: a JSON file or np.save'd dicts per subject (DATA.md, "Submission").
#include "brainsweep/sample_counts.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/npy.hpp"
#include "brainsweep/path_template.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;


SampleCounts read_sample_counts(const std::string& source, const std::string& test_set,
                                const std::vector<std::string>& subjects) {
  SampleCounts out;
  if (source.size() >= 5 && source.substr(source.size() - 5) == ".json") {
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(fs::read_text(source));
    } catch (const nlohmann::json::exception& e) {
      throw DataError(source + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains(test_set)) {
      std::string known;
      if (j.is_object())
        for (const auto& [k, v] : j.items()) known += (known.empty() ? "" : ", ") + k;
      throw DataError(source + ": no test set '" + test_set + "' (test sets found: " + (known.empty() ? "none" : known) + ")");
    }
    const auto& t = j.at(test_set);
    std::vector<std::string> subs = subjects;
    if (subs.empty())
      for (const auto& [k, v] : t.items()) subs.push_back(k);
    for (const auto& sub : subs) {
      if (!t.contains(sub) || !t.at(sub).is_object())
        throw DataError(source + ": test set '" + test_set + "' has no sample counts for subject " + sub);
      for (const auto& [ep, n] : t.at(sub).items()) {
        if (!n.is_number_integer() || n.get<long>() <= 0)
          throw DataError(source + ": test set '" + test_set + "', " + sub + ", episode '" + ep +
                          "': expected a positive integer sample count, found " + n.dump());
        out[sub].emplace_back(ep, n.get<long>());
      }
    }
    return out;
  }
  if (source.find("{subject}") == std::string::npos || source.find("{test_set}") == std::string::npos)
    throw DataError(source + ": sample counts must be a .json file or a template with {subject} and {test_set}");
  if (subjects.empty()) throw DataError(source + ": a sample-count template needs the list of subjects");
  for (const auto& sub : subjects) {
    const std::string file = sample_counts_file(source, test_set, sub);
    if (!sfs::exists(file))
      throw DataError(file + ": missing (sample counts of test set '" + test_set + "' for " + sub + ")");
    out[sub] = npy::read_count_dict(file);
  }
  return out;
}

std::string sample_counts_file(const std::string& source, const std::string& test_set, const std::string& subject) {
  return fill_template(source, {{"subject", subject}, {"test_set", test_set}});
}

}  // namespace brainsweep
