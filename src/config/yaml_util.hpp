#pragma once
// Typed access to yaml-cpp nodes with errors that name the file, key path and line.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
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

/// "a, b or c": the choices of a key, for messages.
inline std::string choice_list(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) out += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
  return out;
}

/// `value` (read from `node` at key `path`) must be one of `choices`.
/// @throw ConfigError  "<file>:<line>: key '<path>': expected a, b or c, found '<value>'"
inline void check_choice(const std::string& file, const YAML::Node& node, const std::string& path, const std::string& value,
                         const std::vector<std::string>& choices) {
  for (const auto& c : choices)
    if (value == c) return;
  throw ConfigError(at(file, node, path) + ": expected " + choice_list(choices) + ", found '" + value + "'");
}

/// A scalar string that must be one of `choices` (check_choice).
inline std::string choice(const std::string& file, const YAML::Node& node, const std::string& path,
                          const std::vector<std::string>& choices) {
  const std::string list = choice_list(choices);
  auto v = scalar<std::string>(file, node, path, list.c_str());
  check_choice(file, node, path, v, choices);
  return v;
}

template <class T>
T required(const std::string& file, const YAML::Node& map, const std::string& key, const char* expected) {
  if (!map[key]) throw ConfigError(at(file, map, key) + ": missing (expected " + expected + ")");
  return scalar<T>(file, map[key], key, expected);
}

/// Refuse a mapping that holds a key twice, anywhere under `node`. yaml-cpp keeps both pairs and
/// its look-ups return the first, PyYAML takes the last: the same file would mean two things.
/// @throw ConfigError  naming the file, the line of the second occurrence, the key path and the first line
inline void check_no_duplicate_keys(const std::string& file, const YAML::Node& node, const std::string& path) {
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<non-scalar key>");
      const std::string kp = path.empty() ? key : path + "." + key;
      const int line = kv.first.Mark().line + 1;
      if (const auto it = first_line.find(key); it != first_line.end())
        throw ConfigError(at(file, kv.first, kp) + ": duplicate key (first given on line " +
                          std::to_string(it->second) + "); give each key once");
      first_line.emplace(key, line);
      check_no_duplicate_keys(file, kv.second, kp);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) check_no_duplicate_keys(file, node[i], path + "[" + std::to_string(i) + "]");
  }
}

/// Parse a YAML file. @throw ConfigError  if it cannot be read (a directory, missing, unreadable),
/// does not parse, or holds a duplicate key (check_no_duplicate_keys)
inline YAML::Node load_file(const std::string& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw ConfigError(file + ": is a directory (expected a YAML file)");
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw ConfigError(file + ": file not found or unreadable");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(file + ": cannot read: " + e.what());
  }
  check_no_duplicate_keys(file, doc, "");
  return doc;
}

}  // namespace brainsweep::yaml
