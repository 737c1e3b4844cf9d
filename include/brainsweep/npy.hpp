#pragma once
/// The NumPy `.npy` files of Algonauts 2025 submissions and sample-count files (DATA.md): what
/// NumPy 1.x `np.save(path, d)` writes for a Python dict `d`, an npy v1.0 file whose header is
/// `{'descr': '|O', 'fortran_order': False, 'shape': (), }` and whose body is a pickle (protocol 3)
/// of a 0-d object array built through `numpy.core.multiarray._reconstruct` and holding `d`.
///
/// The writer reproduces the byte stream of CPython's C pickler under NumPy 1.24 for
/// `{str: {str: float32 C-contiguous 2-D array}}` (memo indices, opcodes, batching), given that
/// equal key strings are the same Python object (as when they come from one list). The reader is a
/// small pickle machine for the opcodes of protocols 2-4 that such files use; it builds a tree of
/// values and never executes anything. Format sources: numpy/lib/format.py (header, 64-byte
/// alignment), CPython Modules/_pickle.c and Lib/pickletools.py (opcodes), numpy
/// `ndarray.__reduce__` / `dtype.__reduce__` (state tuples).
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "brainsweep/matrix.hpp"

namespace brainsweep::npy {

/// The 128-byte npy v1.0 header of a pickled 0-d object array (magic, version 1.0, header length
/// 118, the header dict padded with spaces to a multiple of 64 bytes, newline), as NumPy 1.x writes it.
std::string object_header_v1();

/// One array to write: the shape (rows × cols, float32) and a function that returns its values,
/// row-major, called once when the array is written (so that a large file streams).
struct ArrayEntry {
  std::string key;
  long rows = 0, cols = 0;
  std::function<MatrixF()> values;
};

/// Write `np.save(out, {outer_key: {inner_key: float32 array}})` in the given key order, exactly as
/// NumPy 1.24 writes it (npy v1.0, pickle protocol 3, `numpy.core.multiarray._reconstruct`).
/// @throw DimensionMismatch  if a values() result differs from its announced shape
void write_nested_float_dict(std::ostream& out,
                             const std::vector<std::pair<std::string, std::vector<ArrayEntry>>>& dict);

// ------------------------------------------------------------------------------------ reading

struct PyValue;
using PyRef = std::shared_ptr<const PyValue>;

/// A value from a pickle. `object` is the result of REDUCE or NEWOBJ (callable + args) with the
/// state of a later BUILD; `global` names `module.name`; `bytes` views the caller's buffer.
struct PyValue {
  enum class Kind { none, boolean, integer, floating, str, bytes, tuple, list, dict, global, object };
  Kind kind = Kind::none;
  bool b = false;
  long long i = 0;
  double f = 0;
  std::string s;                 ///< str (UTF-8) or global ("module name")
  std::string_view bytes;        ///< into the parsed buffer
  std::vector<PyRef> items;      ///< tuple, list
  std::vector<std::pair<PyRef, PyRef>> dict;  ///< in insertion order
  PyRef callable, args, state;   ///< object
  const char* kind_name() const;
};

/// A parsed pickle: the value and every module named by a GLOBAL / STACK_GLOBAL opcode, plus the
/// pickle protocol (from PROTO; 0 when absent).
struct Pickle {
  PyRef value;
  std::vector<std::string> globals;
  int protocol = 0;
};

/// Parse a pickle. @param where  names the source in errors
/// @throw DataError  on an unknown or malformed opcode (names the opcode and offset)
Pickle parse_pickle(std::string_view data, const std::string& where);

/// An npy file holding a pickled object: the header fields and the object inside the 0-d array.
struct ObjectNpy {
  int major = 0, minor = 0;
  std::string header;       ///< the header dict text, padding stripped
  Pickle pickle;            ///< of the whole array
  PyRef item;               ///< the object held by the 0-d object array (the dict)
};

/// Parse an npy file written by `np.save` for a Python object (descr '|O', shape ()).
/// @throw DataError  naming `where` if the magic, header or pickle is not that of a pickled object
ObjectNpy parse_object_npy(std::string_view data, const std::string& where);

/// A numeric array decoded from an `ndarray` pickle (little-endian float32/float64/int, C order).
struct NdArray {
  std::vector<long> shape;
  std::string descr;        ///< e.g. "<f4"
  std::string_view data;    ///< raw bytes, C order
};

/// Decode a value that is an `ndarray` reconstructed by `numpy.core.multiarray._reconstruct` (or
/// `numpy._core...`). @throw DataError  naming `where` when it is not, or is Fortran-ordered,
/// big-endian, or its byte count does not match its shape
NdArray as_ndarray(const PyRef& v, const std::string& where);

/// Python int, or a NumPy integer scalar (`numpy.core.multiarray.scalar`), as long long.
/// @throw DataError  naming `where` otherwise
long long as_integer(const PyRef& v, const std::string& where);

/// Read an `np.save`d dict {str: int} (the Algonauts `*_fmri_samples.npy` count files), in file order.
/// @throw DataError  naming the file if it is not such a dict
std::vector<std::pair<std::string, long>> read_count_dict(const std::string& path);

/// Read a 2-D numeric array written by `np.save` (npy 1.0-3.0, little-endian float32 '<f4' or
/// float64 '<f8', C or Fortran order) as rows × cols float32 (float64 values rounded).
/// @throw DataError  naming the file for another dtype, shape or a truncated file
MatrixF read_matrix(const std::string& path);

}  // namespace brainsweep::npy
