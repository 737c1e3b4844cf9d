#pragma once
/// Tab-separated files as pandas and BIDS write them: a header row, fields optionally quoted with '"'
/// ("" inside a quoted field is one quote; quoted fields may hold tabs and newlines).
#include <string>
#include <vector>

namespace brainsweep {

struct TsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<long> lines;  ///< the file line each row starts on (1 is the header)
  /// Index of column `name`. @throw DataError naming the file and listing the header when absent
  size_t column(const std::string& name) const;
};

/// Read a TSV file; blank lines are skipped.
/// @throw DataError  naming the file if it cannot be read, is empty, or a row has another number of
///   fields than the header (naming the line)
TsvTable read_tsv(const std::string& path);

/// Split one record starting at `pos` of `text`; advances `pos` and counts the newlines it consumes
/// into `newlines`. Returns false at the end of the text.
bool next_tsv_record(const std::string& text, size_t& pos, std::vector<std::string>& fields, long& newlines);

}  // namespace brainsweep
