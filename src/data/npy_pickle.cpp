// npy v1.0 + pickle protocol 3 writer and a small pickle reader (see include/brainsweep/npy.hpp).
#include "brainsweep/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"

namespace brainsweep::npy {

namespace op {  // pickle opcodes (CPython Lib/pickle.py)
constexpr char MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BINFLOAT = 'G', BININT = 'J',
               BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINUNICODE = 'X', SHORT_BINSTRING = 'U', BINSTRING = 'T',
               APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h',
               LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's',
               TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', REDUCE = 'R';
constexpr unsigned char PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
                        NEWFALSE = 0x89, LONG1 = 0x8a, BINBYTES = 'B', SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c,
                        BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, STACK_GLOBAL = 0x93,
                        MEMOIZE = 0x94, FRAME = 0x95;
}  // namespace op

std::string object_header_v1() {
  // numpy/lib/format.py: header dict, then spaces so that magic + length + header + '\n' is a
  // multiple of ARRAY_ALIGN = 64.
  std::string h = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
  const size_t pad = 64 - ((10 + h.size() + 1) % 64);
  h += std::string(pad == 64 ? 0 : pad, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>((h.size() >> 8) & 0xff);
  return out + h;
}

namespace {

/// The C pickler's output, as far as np.save of a dict of float32 arrays needs it.
class Pickler {
 public:
  explicit Pickler(std::ostream& out) : out_(out) {}
  void raw(const std::string& s) { out_.write(s.data(), static_cast<std::streamsize>(s.size())); }
  void byte(unsigned char c) { out_.put(static_cast<char>(c)); }
  void u32(uint32_t v) {
    for (int k = 0; k < 4; ++k) byte(static_cast<unsigned char>((v >> (8 * k)) & 0xff));
  }
  /// BINPUT / LONG_BINPUT of the next memo slot; returns the slot.
  long put() {
    const long idx = next_++;
    if (idx < 256) {
      byte(op::BINPUT);
      byte(static_cast<unsigned char>(idx));
    } else {
      byte(op::LONG_BINPUT);
      u32(static_cast<uint32_t>(idx));
    }
    return idx;
  }
  void get(long idx) {
    if (idx < 256) {
      byte(op::BINGET);
      byte(static_cast<unsigned char>(idx));
    } else {
      byte(op::LONG_BINGET);
      u32(static_cast<uint32_t>(idx));
    }
  }
  void integer(long long x) {
    if (x >= 0 && x <= 0xff) {
      byte(op::BININT1);
      byte(static_cast<unsigned char>(x));
    } else if (x >= 0 && x <= 0xffff) {
      byte(op::BININT2);
      byte(static_cast<unsigned char>(x & 0xff));
      byte(static_cast<unsigned char>(x >> 8));
    } else if (x >= -0x80000000LL && x <= 0x7fffffffLL) {
      byte(op::BININT);
      u32(static_cast<uint32_t>(static_cast<int32_t>(x)));
    } else {
      throw Error(fmt::format("pickle writer: integer {} out of the 32-bit range", x));
    }
  }
  /// A str: BINGET when an equal string is memoized (the same Python object), else BINUNICODE + BINPUT.
  void str(const std::string& s, bool memo_by_value = true) {
    if (memo_by_value) {
      if (auto it = strings_.find(s); it != strings_.end()) return get(it->second);
    }
    byte(op::BINUNICODE);
    u32(static_cast<uint32_t>(s.size()));
    raw(s);
    const long idx = put();
    if (memo_by_value) strings_[s] = idx;
  }
  void bytes(const char* data, size_t n) {
    if (n <= 0xff) {
      byte(op::SHORT_BINBYTES);
      byte(static_cast<unsigned char>(n));
    } else {
      if (n > 0xffffffffULL) throw Error("pickle writer: one array larger than 4 GiB");
      byte(op::BINBYTES);
      u32(static_cast<uint32_t>(n));
    }
    out_.write(data, static_cast<std::streamsize>(n));
    put();
  }
  void global(const std::string& module, const std::string& name) {
    byte(op::GLOBAL);
    raw(module + "\n" + name + "\n");
    put();
  }

 private:
  std::ostream& out_;
  long next_ = 0;
  std::map<std::string, long> strings_;
};

/// Memo slots fixed by the preamble (see the pickletools listing in tests/unit/test_npy.cpp).
constexpr long kReconstruct = 0, kNdarray = 1, kTypeCodeB = 3, kDtypeClass = 6;

/// ndarray.__reduce__: _reconstruct(ndarray, (0,), b'b'), state (1, shape, dtype, False, data).
void array_f32(Pickler& pk, const float* data, long rows, long cols, long& dtype_f4) {
  pk.get(kReconstruct);
  pk.get(kNdarray);
  pk.integer(0);
  pk.byte(op::TUPLE1);
  pk.put();
  pk.get(kTypeCodeB);
  pk.byte(op::TUPLE3);
  pk.put();
  pk.byte(op::REDUCE);
  pk.put();
  pk.byte(op::MARK);
  pk.integer(1);
  pk.integer(rows);
  pk.integer(cols);
  pk.byte(op::TUPLE2);
  pk.put();
  if (dtype_f4 < 0) {  // dtype('f4', False, True) with state (3, '<', None, None, None, -1, -1, 0)
    pk.get(kDtypeClass);
    pk.str("f4", false);
    pk.byte(op::NEWFALSE);
    pk.byte(op::NEWTRUE);
    pk.byte(op::TUPLE3);
    pk.put();
    pk.byte(op::REDUCE);
    dtype_f4 = pk.put();
    pk.byte(op::MARK);
    pk.integer(3);
    pk.str("<", false);
    pk.byte(op::NONE);
    pk.byte(op::NONE);
    pk.byte(op::NONE);
    pk.integer(-1);
    pk.integer(-1);
    pk.integer(0);
    pk.byte(op::TUPLE);
    pk.put();
    pk.byte(op::BUILD);
  } else {
    pk.get(dtype_f4);
  }
  pk.byte(op::NEWFALSE);
  pk.bytes(reinterpret_cast<const char*>(data), static_cast<size_t>(rows) * static_cast<size_t>(cols) * 4);
  pk.byte(op::TUPLE);
  pk.put();
  pk.byte(op::BUILD);
}

template <class Items, class SaveItem>
void dict_items(Pickler& pk, const Items& items, SaveItem save_item) {
  // CPython batch_dict_exact: one item → key value SETITEM; more → MARK ... SETITEMS per 1000.
  if (items.size() == 1) {
    save_item(items.front());
    pk.byte(op::SETITEM);
    return;
  }
  for (size_t b = 0; b < items.size(); b += 1000) {
    pk.byte(op::MARK);
    for (size_t i = b; i < std::min(items.size(), b + 1000); ++i) save_item(items[i]);
    pk.byte(op::SETITEMS);
  }
}

}  // namespace

void write_nested_float_dict(std::ostream& out,
                             const std::vector<std::pair<std::string, std::vector<ArrayEntry>>>& dict) {
  out << object_header_v1();
  Pickler pk(out);
  pk.byte(op::PROTO);
  pk.byte(3);
  pk.global("numpy.core.multiarray", "_reconstruct");  // 0
  pk.global("numpy", "ndarray");                        // 1
  pk.integer(0);
  pk.byte(op::TUPLE1);
  pk.put();  // 2
  pk.bytes("b", 1);  // 3
  pk.byte(op::TUPLE3);
  pk.put();  // 4
  pk.byte(op::REDUCE);
  pk.put();  // 5
  pk.byte(op::MARK);
  pk.integer(1);
  pk.byte(op::EMPTY_TUPLE);
  pk.global("numpy", "dtype");  // 6
  pk.str("O8", false);          // 7
  pk.byte(op::NEWFALSE);
  pk.byte(op::NEWTRUE);
  pk.byte(op::TUPLE3);
  pk.put();  // 8
  pk.byte(op::REDUCE);
  pk.put();  // 9
  pk.byte(op::MARK);
  pk.integer(3);
  pk.str("|", false);  // 10
  pk.byte(op::NONE);
  pk.byte(op::NONE);
  pk.byte(op::NONE);
  pk.integer(-1);
  pk.integer(-1);
  pk.integer(63);
  pk.byte(op::TUPLE);
  pk.put();  // 11
  pk.byte(op::BUILD);
  pk.byte(op::NEWFALSE);
  pk.byte(op::EMPTY_LIST);
  pk.put();  // 12
  pk.byte(op::EMPTY_DICT);
  pk.put();  // 13
  long dtype_f4 = -1;
  dict_items(pk, dict, [&](const auto& outer) {
    pk.str(outer.first);
    pk.byte(op::EMPTY_DICT);
    pk.put();
    dict_items(pk, outer.second, [&](const ArrayEntry& e) {
      pk.str(e.key);
      const MatrixF m = e.values();
      if (m.rows() != e.rows || m.cols() != e.cols)
        throw DimensionMismatch(fmt::format("{}/{}: array is {}×{}, announced {}×{}", outer.first, e.key, m.rows(),
                                            m.cols(), e.rows, e.cols));
      array_f32(pk, m.data(), e.rows, e.cols, dtype_f4);
    });
  });
  pk.byte(op::APPEND);
  pk.byte(op::TUPLE);
  pk.put();
  pk.byte(op::BUILD);
  pk.byte(op::STOP);
  if (!out) throw Error("npy writer: write failed (disk full?)");
}

// ------------------------------------------------------------------------------------ reading

const char* PyValue::kind_name() const {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::str: return "str";
    case Kind::bytes: return "bytes";
    case Kind::tuple: return "tuple";
    case Kind::list: return "list";
    case Kind::dict: return "dict";
    case Kind::global: return "global";
    case Kind::object: return "object";
  }
  return "?";
}

namespace {

using Kind = PyValue::Kind;

std::shared_ptr<PyValue> make(Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

/// Latin-1 bytes of a UTF-8 string (what `_codecs.encode(s, 'latin1')` returns; protocol 2 stores
/// Python 3 bytes that way). Code points above 255 are an error.
std::string utf8_to_latin1(const std::string& s, const std::string& where) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
      const unsigned cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3fu);
      if (cp > 0xff) throw DataError(where + ": _codecs.encode of a non-latin1 string");
      out += static_cast<char>(cp);
      i += 2;
    } else {
      throw DataError(where + ": _codecs.encode of a non-latin1 string");
    }
  }
  return out;
}

}  // namespace

Pickle parse_pickle(std::string_view d, const std::string& where) {
  Pickle result;
  std::vector<std::shared_ptr<PyValue>> stack;
  std::vector<size_t> marks;
  std::map<long, std::shared_ptr<PyValue>> memo;
  std::vector<std::unique_ptr<std::string>> owned;  // latin1-decoded bytes from protocol 2
  size_t pos = 0;
  auto fail = [&](const std::string& what) -> DataError {
    return DataError(fmt::format("{}: pickle at byte {}: {}", where, pos, what));
  };
  auto need = [&](size_t n) {
    if (pos + n > d.size()) throw fail("truncated");
  };
  auto rd = [&](size_t n) {
    need(n);
    auto s = d.substr(pos, n);
    pos += n;
    return s;
  };
  auto le = [&](size_t n) {
    auto s = rd(n);
    unsigned long long v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<unsigned long long>(static_cast<unsigned char>(s[k])) << (8 * k);
    return v;
  };
  auto line = [&]() {
    const size_t e = d.find('\n', pos);
    if (e == std::string_view::npos) throw fail("unterminated GLOBAL");
    std::string s(d.substr(pos, e - pos));
    pos = e + 1;
    return s;
  };
  auto pop = [&]() {
    if (stack.empty() || (!marks.empty() && stack.size() <= marks.back())) throw fail("stack underflow");
    auto v = stack.back();
    stack.pop_back();
    return v;
  };
  auto pop_mark = [&]() {
    if (marks.empty()) throw fail("no MARK");
    std::vector<PyRef> items(stack.begin() + static_cast<long>(marks.back()), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  };
  auto top = [&]() {
    if (stack.empty()) throw fail("stack underflow");
    return stack.back();
  };
  auto str_value = [&](std::string_view s) {
    auto v = make(Kind::str);
    v->s = std::string(s);
    stack.push_back(v);
  };
  auto bytes_value = [&](std::string_view s) {
    auto v = make(Kind::bytes);
    v->bytes = s;
    stack.push_back(v);
  };
  auto global_value = [&](const std::string& module, const std::string& name) {
    result.globals.push_back(module);
    auto v = make(Kind::global);
    v->s = module + " " + name;
    stack.push_back(v);
  };
  auto tuple_of = [&](std::vector<PyRef> items) {
    auto v = make(Kind::tuple);
    v->items = std::move(items);
    stack.push_back(v);
  };
  auto set_items = [&](std::shared_ptr<PyValue> dict, const std::vector<PyRef>& kv) {
    if (dict->kind != Kind::dict) throw fail("SETITEM(S) on a " + std::string(dict->kind_name()));
    if (kv.size() % 2) throw fail("SETITEMS with an odd number of items");
    for (size_t k = 0; k < kv.size(); k += 2) {
      bool replaced = false;
      for (auto& [key, val] : dict->dict)
        if (key->kind == kv[k]->kind && key->s == kv[k]->s && key->i == kv[k]->i && key->kind != Kind::object) {
          val = kv[k + 1];
          replaced = true;
        }
      if (!replaced) dict->dict.emplace_back(kv[k], kv[k + 1]);
    }
  };

  while (true) {
    need(1);
    const auto code = static_cast<unsigned char>(d[pos++]);
    switch (code) {
      case op::PROTO: result.protocol = static_cast<int>(le(1)); break;
      case op::FRAME: le(8); break;
      case static_cast<unsigned char>(op::STOP): {
        if (stack.size() != 1 || !marks.empty()) throw fail("STOP with " + std::to_string(stack.size()) + " values on the stack");
        result.value = stack.back();
        return result;
      }
      case static_cast<unsigned char>(op::MARK): marks.push_back(stack.size()); break;
      case static_cast<unsigned char>(op::POP): pop(); break;
      case static_cast<unsigned char>(op::POP_MARK): pop_mark(); break;
      case static_cast<unsigned char>(op::DUP): stack.push_back(top()); break;
      case static_cast<unsigned char>(op::NONE): stack.push_back(make(Kind::none)); break;
      case op::NEWTRUE:
      case op::NEWFALSE: {
        auto v = make(Kind::boolean);
        v->b = code == op::NEWTRUE;
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::BININT): {
        auto v = make(Kind::integer);
        v->i = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::BININT1):
      case static_cast<unsigned char>(op::BININT2): {
        auto v = make(Kind::integer);
        v->i = static_cast<long long>(le(code == static_cast<unsigned char>(op::BININT1) ? 1 : 2));
        stack.push_back(v);
        break;
      }
      case op::LONG1: {
        const size_t n = le(1);
        if (n > 8) throw fail("LONG1 of more than 8 bytes");
        auto s = rd(n);
        unsigned long long u = 0;
        for (size_t k = 0; k < n; ++k) u |= static_cast<unsigned long long>(static_cast<unsigned char>(s[k])) << (8 * k);
        if (n > 0 && n < 8 && (static_cast<unsigned char>(s[n - 1]) & 0x80)) u |= ~0ULL << (8 * n);  // sign-extend
        auto v = make(Kind::integer);
        v->i = static_cast<long long>(u);
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::BINFLOAT): {
        auto s = rd(8);
        unsigned char be[8];
        for (int k = 0; k < 8; ++k) be[k] = static_cast<unsigned char>(s[7 - k]);
        auto v = make(Kind::floating);
        std::memcpy(&v->f, be, 8);
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::BINUNICODE): str_value(rd(le(4))); break;
      case op::SHORT_BINUNICODE: str_value(rd(le(1))); break;
      case op::BINUNICODE8: str_value(rd(le(8))); break;
      case op::SHORT_BINBYTES: bytes_value(rd(le(1))); break;
      case op::BINBYTES: bytes_value(rd(le(4))); break;
      case op::BINBYTES8: bytes_value(rd(le(8))); break;
      case static_cast<unsigned char>(op::SHORT_BINSTRING): bytes_value(rd(le(1))); break;
      case static_cast<unsigned char>(op::BINSTRING): bytes_value(rd(le(4))); break;
      case static_cast<unsigned char>(op::GLOBAL): {
        const std::string module = line();
        global_value(module, line());
        break;
      }
      case op::STACK_GLOBAL: {
        const auto name = pop(), module = pop();
        if (name->kind != Kind::str || module->kind != Kind::str) throw fail("STACK_GLOBAL of non-strings");
        global_value(module->s, name->s);
        break;
      }
      case static_cast<unsigned char>(op::BINPUT): memo[static_cast<long>(le(1))] = top(); break;
      case static_cast<unsigned char>(op::LONG_BINPUT): memo[static_cast<long>(le(4))] = top(); break;
      case op::MEMOIZE: memo[static_cast<long>(memo.size())] = top(); break;
      case static_cast<unsigned char>(op::BINGET):
      case static_cast<unsigned char>(op::LONG_BINGET): {
        const long idx = static_cast<long>(le(code == static_cast<unsigned char>(op::BINGET) ? 1 : 4));
        auto it = memo.find(idx);
        if (it == memo.end()) throw fail("BINGET of unset memo slot " + std::to_string(idx));
        stack.push_back(it->second);
        break;
      }
      case static_cast<unsigned char>(op::EMPTY_TUPLE): tuple_of({}); break;
      case op::TUPLE1: tuple_of({pop()}); break;
      case op::TUPLE2: {
        auto b = pop(), a = pop();
        tuple_of({a, b});
        break;
      }
      case op::TUPLE3: {
        auto c = pop(), b = pop(), a = pop();
        tuple_of({a, b, c});
        break;
      }
      case static_cast<unsigned char>(op::TUPLE): tuple_of(pop_mark()); break;
      case static_cast<unsigned char>(op::EMPTY_LIST): stack.push_back(make(Kind::list)); break;
      case static_cast<unsigned char>(op::LIST): {
        auto v = make(Kind::list);
        v->items = pop_mark();
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::APPEND): {
        auto x = pop();
        auto l = top();
        if (l->kind != Kind::list) throw fail("APPEND to a " + std::string(l->kind_name()));
        l->items.push_back(x);
        break;
      }
      case static_cast<unsigned char>(op::APPENDS): {
        auto xs = pop_mark();
        auto l = top();
        if (l->kind != Kind::list) throw fail("APPENDS to a " + std::string(l->kind_name()));
        l->items.insert(l->items.end(), xs.begin(), xs.end());
        break;
      }
      case static_cast<unsigned char>(op::EMPTY_DICT): stack.push_back(make(Kind::dict)); break;
      case static_cast<unsigned char>(op::DICT): {
        auto v = make(Kind::dict);
        set_items(v, pop_mark());
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::SETITEM): {
        auto val = pop(), key = pop();
        set_items(top(), {key, val});
        break;
      }
      case static_cast<unsigned char>(op::SETITEMS): {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case static_cast<unsigned char>(op::REDUCE):
      case op::NEWOBJ: {
        auto args = pop(), callable = pop();
        if (args->kind != Kind::tuple) throw fail("REDUCE with non-tuple arguments");
        if (callable->kind == Kind::global && callable->s == "_codecs encode" && args->items.size() == 2 &&
            args->items[0]->kind == Kind::str) {  // protocol 2 bytes
          owned.push_back(std::make_unique<std::string>(utf8_to_latin1(args->items[0]->s, where)));
          bytes_value(*owned.back());
          break;
        }
        auto v = make(Kind::object);
        v->callable = callable;
        v->args = args;
        stack.push_back(v);
        break;
      }
      case static_cast<unsigned char>(op::BUILD): {
        auto state = pop();
        auto obj = top();
        if (obj->kind != Kind::object) throw fail("BUILD on a " + std::string(obj->kind_name()));
        obj->state = state;
        break;
      }
      default:
        throw fail(fmt::format("unsupported pickle opcode 0x{:02x}", code));
    }
  }
}

namespace {
/// The magic, version and header dict of an npy file (padding stripped); `body` is set to the offset
/// of the data. @throw DataError naming `where`
std::string npy_header(std::string_view d, const std::string& where, int& major, int& minor, size_t& body) {
  if (d.size() < 10 || d.substr(0, 6) != "\x93NUMPY")
    throw DataError(where + ": not an npy file (expected the magic \\x93NUMPY)");
  major = static_cast<unsigned char>(d[6]);
  minor = static_cast<unsigned char>(d[7]);
  size_t hlen = 0, off = 0;
  if (major == 1) {
    hlen = static_cast<unsigned char>(d[8]) | (static_cast<size_t>(static_cast<unsigned char>(d[9])) << 8);
    off = 10;
  } else if (major == 2 || major == 3) {
    if (d.size() < 12) throw DataError(where + ": truncated npy header");
    for (int k = 0; k < 4; ++k) hlen |= static_cast<size_t>(static_cast<unsigned char>(d[8 + k])) << (8 * k);
    off = 12;
  } else {
    throw DataError(fmt::format("{}: npy version {}.{} (expected 1.0, 2.0 or 3.0)", where, major, minor));
  }
  if (off + hlen > d.size()) throw DataError(where + ": truncated npy header");
  std::string header(d.substr(off, hlen));
  while (!header.empty() && (header.back() == ' ' || header.back() == '\n')) header.pop_back();
  body = off + hlen;
  return header;
}
}  // namespace

ObjectNpy parse_object_npy(std::string_view d, const std::string& where) {
  ObjectNpy r;
  size_t body = 0;
  r.header = npy_header(d, where, r.major, r.minor, body);
  if (r.header.find("'descr': '|O'") == std::string::npos || r.header.find("'shape': ()") == std::string::npos)
    throw DataError(where + ": npy header " + r.header +
                    " is not that of a pickled object (expected 'descr': '|O' and 'shape': (), as np.save writes for a dict)");
  r.pickle = parse_pickle(d.substr(body), where);
  const PyRef& v = r.pickle.value;
  // 0-d object array: _reconstruct(ndarray, (0,), b'b') with state (1, (), dtype('O8'), False, [item]).
  if (v->kind != Kind::object || !v->state || v->state->kind != Kind::tuple || v->state->items.size() != 5 ||
      v->state->items[4]->kind != Kind::list || v->state->items[4]->items.size() != 1)
    throw DataError(where + ": the pickle does not hold a 0-d object array (expected np.save of a dict)");
  r.item = v->state->items[4]->items[0];
  return r;
}

namespace {
bool is_reconstruct(const PyRef& c) {
  return c && c->kind == Kind::global &&
         (c->s == "numpy.core.multiarray _reconstruct" || c->s == "numpy._core.multiarray _reconstruct");
}
std::string dtype_descr(const PyRef& dt, const std::string& where) {
  if (!dt || dt->kind != Kind::object || !dt->callable || dt->callable->kind != Kind::global ||
      dt->callable->s != "numpy dtype" || dt->args->items.empty() || dt->args->items[0]->kind != Kind::str)
    throw DataError(where + ": array dtype is not a numpy dtype");
  std::string order = "|";
  if (dt->state && dt->state->kind == Kind::tuple && dt->state->items.size() > 1 &&
      dt->state->items[1]->kind == Kind::str)
    order = dt->state->items[1]->s;
  return order + dt->args->items[0]->s;
}
}  // namespace

NdArray as_ndarray(const PyRef& v, const std::string& where) {
  if (!v || v->kind != Kind::object || !is_reconstruct(v->callable) || !v->state || v->state->kind != Kind::tuple ||
      v->state->items.size() != 5)
    throw DataError(where + ": expected a numpy array, found a " + std::string(v ? v->kind_name() : "nothing"));
  const auto& st = v->state->items;
  NdArray a;
  if (st[1]->kind != Kind::tuple) throw DataError(where + ": array shape is not a tuple");
  for (const auto& x : st[1]->items) {
    if (x->kind != Kind::integer) throw DataError(where + ": array shape holds a non-integer");
    a.shape.push_back(static_cast<long>(x->i));
  }
  a.descr = dtype_descr(st[2], where);
  if (st[3]->kind == Kind::boolean && st[3]->b && a.shape.size() > 1)
    throw DataError(where + ": array is Fortran-ordered (expected C order)");
  if (st[4]->kind != Kind::bytes) throw DataError(where + ": array data is a " + std::string(st[4]->kind_name()) + ", not bytes");
  a.data = st[4]->bytes;
  if (a.descr.size() < 3 || (a.descr[0] != '<' && a.descr[0] != '|'))
    throw DataError(where + ": array dtype '" + a.descr + "' (expected little-endian, e.g. '<f4')");
  size_t count = 1;
  for (long s : a.shape) count *= static_cast<size_t>(s);
  const size_t item = static_cast<size_t>(std::stoul(a.descr.substr(2)));
  if (count * item != a.data.size())
    throw DataError(fmt::format("{}: array of shape {} and dtype {} holds {} bytes (expected {})", where,
                                fmt::join(a.shape, "×"), a.descr, a.data.size(), count * item));
  return a;
}

long long as_integer(const PyRef& v, const std::string& where) {
  if (v && v->kind == Kind::integer) return v->i;
  if (v && v->kind == Kind::object && v->callable && v->callable->kind == Kind::global &&
      (v->callable->s == "numpy.core.multiarray scalar" || v->callable->s == "numpy._core.multiarray scalar") &&
      v->args->items.size() == 2 && v->args->items[1]->kind == Kind::bytes) {
    const std::string descr = dtype_descr(v->args->items[0], where);
    const auto b = v->args->items[1]->bytes;
    if ((descr == "<i8" || descr == "<u8") && b.size() == 8) {
      long long x;
      std::memcpy(&x, b.data(), 8);
      return x;
    }
    if ((descr == "<i4" || descr == "<u4") && b.size() == 4) {
      int32_t x;
      std::memcpy(&x, b.data(), 4);
      return descr == "<u4" ? static_cast<long long>(static_cast<uint32_t>(x)) : x;
    }
    throw DataError(where + ": numpy scalar of dtype " + descr + " (expected an integer)");
  }
  throw DataError(where + ": expected an integer, found a " + std::string(v ? v->kind_name() : "nothing"));
}

std::vector<std::pair<std::string, long>> read_count_dict(const std::string& path) {
  const std::string text = fs::read_text(path);
  const ObjectNpy n = parse_object_npy(text, path);
  if (n.item->kind != Kind::dict)
    throw DataError(path + ": expected a pickled dict {episode: n_samples}, found a " + std::string(n.item->kind_name()));
  std::vector<std::pair<std::string, long>> out;
  for (const auto& [k, v] : n.item->dict) {
    if (k->kind != Kind::str) throw DataError(path + ": a key is a " + std::string(k->kind_name()) + ", not an episode name");
    const long long x = as_integer(v, path + ": episode '" + k->s + "'");
    if (x <= 0) throw DataError(fmt::format("{}: episode '{}' has {} samples (expected > 0)", path, k->s, x));
    out.emplace_back(k->s, static_cast<long>(x));
  }
  return out;
}

MatrixF read_matrix(const std::string& path) {
  const std::string text = fs::read_text(path);
  int major = 0, minor = 0;
  size_t body = 0;
  const std::string header = npy_header(text, path, major, minor, body);
  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')"), fortran_re(R"('fortran_order'\s*:\s*(True|False))"),
      shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  if (!std::regex_search(header, m, descr_re)) throw DataError(path + ": npy header " + header + " has no 'descr'");
  const std::string descr = m[1];
  if (descr != "<f4" && descr != "<f8")
    throw DataError(path + ": npy dtype '" + descr + "', expected float32 ('<f4') or float64 ('<f8') values");
  if (!std::regex_search(header, m, fortran_re)) throw DataError(path + ": npy header " + header + " has no 'fortran_order'");
  const bool fortran = m[1] == "True";
  if (!std::regex_search(header, m, shape_re)) throw DataError(path + ": npy header " + header + " has no 'shape'");
  std::vector<long> shape;
  {
    std::stringstream ss(m[1].str());
    for (std::string item; std::getline(ss, item, ',');) {
      const auto b = item.find_first_not_of(' ');
      if (b == std::string::npos) continue;
      shape.push_back(std::stol(item.substr(b)));
    }
  }
  if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1)
    throw DataError(fmt::format("{}: npy shape ({}), expected a non-empty 2-D array (items × dimensions)", path,
                                fmt::join(shape, ", ")));
  const size_t item = descr == "<f4" ? 4 : 8;
  const size_t n = static_cast<size_t>(shape[0]) * static_cast<size_t>(shape[1]);
  if (text.size() - body != n * item)
    throw DataError(fmt::format("{}: npy data has {} bytes, expected {} for shape ({}, {}) of '{}'", path,
                                text.size() - body, n * item, shape[0], shape[1], descr));
  MatrixF out(shape[0], shape[1]);
  const char* p = text.data() + body;
  for (long i = 0; i < shape[0]; ++i)
    for (long j = 0; j < shape[1]; ++j) {
      const size_t k = fortran ? static_cast<size_t>(j) * shape[0] + i : static_cast<size_t>(i) * shape[1] + j;
      if (item == 4) {
        float v;
        std::memcpy(&v, p + 4 * k, 4);
        out(i, j) = v;
      } else {
        double v;
        std::memcpy(&v, p + 8 * k, 8);
        out(i, j) = static_cast<float>(v);
      }
    }
  return out;
}

}  // namespace brainsweep::npy
