#pragma once
// Typed access to yaml-cpp nodes with errors that name the file, key path and line.
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "brainsweep/errors.hpp"

namespace brainsweep::yaml {

inline std::string at(const std::string& file, const YAML::Node& node, const std::string& key) {
  std::string s = file;
  if (node.Mark().line >= 0) s += ":" + std::to_string(node.Mark().line + 1);
  return s + ": key '" + key + "'";
}

/// Every key of mapping `node` must be in `allowed`.
inline void check_keys(const std::string& file, const YAML::Node& node, const std::string& path,
                       const std::set<std::string>& allowed) {
  if (!node.IsMap()) throw ConfigError(at(file, node, path) + ": expected a mapping");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw ConfigError(at(file, kv.first, path.empty() ? key : path + "." + key) +
                        ": unknown key (allowed: " + list + ")");
    }
  }
}

template <class T>
T scalar(const std::string& file, const YAML::Node& node, const std::string& path, const char* expected) {
  if (!node.IsScalar()) throw ConfigError(at(file, node, path) + ": expected " + expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError(at(file, node, path) + ": expected " + expected + ", found '" + node.Scalar() + "'");
  }
}

template <class T>
std::vector<T> list(const std::string& file, const YAML::Node& node, const std::string& path, const char* expected) {
  std::vector<T> out;
  if (node.IsScalar()) {
    out.push_back(scalar<T>(file, node, path, expected));
    return out;
  }
  if (!node.IsSequence()) throw ConfigError(at(file, node, path) + ": expected a list of " + expected);
  for (size_t i = 0; i < node.size(); ++i)
    out.push_back(scalar<T>(file, node[i], path + "[" + std::to_string(i) + "]", expected));
  return out;
}

template <class T>
T required(const std::string& file, const YAML::Node& map, const std::string& key, const char* expected) {
  if (!map[key]) throw ConfigError(at(file, map, key) + ": missing (expected " + expected + ")");
  return scalar<T>(file, map[key], key, expected);
}

inline YAML::Node load_file(const std::string& file) {
  try {
    return YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw ConfigError(file + ": file not found or unreadable");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
}

}  // namespace brainsweep::yaml
