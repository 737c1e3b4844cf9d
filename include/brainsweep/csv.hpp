#pragma once
/// CSV cells as pandas reads and writes them (RFC 4180): a text cell is quoted when it holds a comma,
/// a quote or a newline, a quote doubled inside. Parcel names carry commas (Harvard-Oxford: "Frontal
/// Pole, left"); every CSV brainsweep writes quotes its text cells with csv_text and reads with split_csv.
#include <string>
#include <vector>

namespace brainsweep {

/// `x` as one CSV cell: as it is, or quoted ("" for a quote) when it holds ',', '"' or a newline.
inline std::string csv_text(const std::string& x) {
  if (x.find_first_of(",\"\n\r") == std::string::npos) return x;
  std::string q = "\"";
  for (char ch : x) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

/// The cells of one CSV line (no newline inside quotes): quoted cells unquoted, "" read as one quote;
/// a trailing comma gives a last empty cell. @return  false if a quote is left open (a malformed line)
inline bool split_csv(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  std::string cell;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') cell += '"', ++i;
      else if (ch == '"') quoted = false;
      else cell += ch;
    } else if (ch == '"' && cell.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == ',') {
      out.push_back(cell);
      cell.clear();
      was_quoted = false;
    } else if (ch != '\r' || i + 1 != line.size()) {
      cell += ch;
    }
  }
  out.push_back(cell);
  return !quoted;
}

}  // namespace brainsweep
