// Tab-separated files (tsv.hpp).
#include "brainsweep/tsv.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"

namespace brainsweep {

bool next_tsv_record(const std::string& text, size_t& pos, std::vector<std::string>& fields, long& newlines) {
  fields.clear();
  if (pos >= text.size()) return false;
  std::string field;
  bool quoted = false, was_quoted = false;
  while (pos < text.size()) {
    const char c = text[pos++];
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') {
          field += '"';
          ++pos;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++newlines;
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == '\t') {
      fields.push_back(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
      ++newlines;
      break;
    } else {
      field += c;
    }
  }
  fields.push_back(field);
  return true;
}

size_t TsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw DataError(fmt::format("{}:1: no column '{}' (the header has: {})", path, name, fmt::join(header, ", ")));
}

TsvTable read_tsv(const std::string& path) {
  TsvTable t;
  t.path = path;
  const std::string text = fs::read_text(path);
  size_t pos = 0;
  long newlines = 0;
  if (!next_tsv_record(text, pos, t.header, newlines) || (t.header.size() == 1 && t.header[0].empty()))
    throw DataError(path + ": empty file (expected a header row)");
  std::vector<std::string> fields;
  for (;;) {
    const long line = newlines + 1;
    if (!next_tsv_record(text, pos, fields, newlines)) break;
    if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line or the final newline
    if (fields.size() != t.header.size())
      throw DataError(fmt::format("{}:{}: expected {} tab-separated fields (as the header), found {}", path, line,
                                  t.header.size(), fields.size()));
    t.rows.push_back(fields);
    t.lines.push_back(line);
  }
  return t;
}

}  // namespace brainsweep
