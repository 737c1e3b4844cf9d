// Gather of the per-job files into RUN_DIR/results.h5 with parallel HDF5 (docs/results-format.md).
#include "brainsweep/gather.hpp"

#include <hdf5.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <memory>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "brainsweep/build_config.hpp"
#include "brainsweep/ceiling.hpp"
#include "brainsweep/data.hpp"
#include "brainsweep/errors.hpp"
#include "brainsweep/fs.hpp"
#include "brainsweep/hdf5_io.hpp"
#include "brainsweep/plan.hpp"
#include "brainsweep/rsa_sweep.hpp"
#include "brainsweep/job_files.hpp"

namespace brainsweep {
namespace sfs = std::filesystem;

namespace {

/// Owns an HDF5 identifier.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id < 0) throw Error("results.h5: HDF5 failed: " + what);
  }
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id_; }
  /// Close now and check the result (H5Fclose flushes: a full disk shows here). Collective for a file.
  void close(const std::string& what) {
    const herr_t status = id_ >= 0 ? close_(id_) : 0;
    id_ = -1;
    if (status < 0) throw Error("results.h5: HDF5 failed: " + what);
  }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error("results.h5: HDF5 failed: " + what);
}

hid_t lcpl() {
  static const hid_t p = [] {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(l, 1);
    return l;
  }();
  return p;
}

/// Create a dataset (collective: every rank calls it with the same arguments).
hid_t create(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, "dataspace " + name);
  return H5Dcreate2(file, name.c_str(), type, space, lcpl(), H5P_DEFAULT, H5P_DEFAULT);
}

hid_t string_type(const std::vector<std::string>& v) {
  size_t len = 1;
  for (const auto& s : v) len = std::max(len, s.size() + 1);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, len);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  return t;
}

/// A 1-D array of fixed-length strings; collective creation, data written by rank 0 (independent).
void write_strings(hid_t file, const std::string& name, const std::vector<std::string>& v, int rank) {
  Id type(string_type(v), H5Tclose, "string type");
  const size_t len = H5Tget_size(type);
  Id d(create(file, name, type, {v.size()}), H5Dclose, "create " + name);
  if (rank != 0 || v.empty()) return;
  std::vector<char> buf(len * v.size(), '\0');
  for (size_t i = 0; i < v.size(); ++i) std::copy(v[i].begin(), v[i].end(), buf.begin() + static_cast<long>(i * len));
  check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "write " + name);
}

template <class T>
void write_small(hid_t file, const std::string& name, hid_t type, const std::vector<T>& v, int rank) {
  Id d(create(file, name, type, {v.size()}), H5Dclose, "create " + name);
  if (rank == 0 && !v.empty()) check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "write " + name);
}

void string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Id type(string_type({value}), H5Tclose, "string type");
  Id space(H5Screate(H5S_SCALAR), H5Sclose, "scalar space");
  Id a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, "attribute " + name);
  std::vector<char> buf(H5Tget_size(type), '\0');
  std::copy(value.begin(), value.end(), buf.begin());
  check(H5Awrite(a, type, buf.data()), "attribute " + name);
}

/// Collective write of rows [row0, row0 + rows) of a dataset whose first dimension is the job;
/// `rows` may be 0 on some ranks (they take part with an empty selection).
void write_rows(hid_t d, hid_t mem_type, hsize_t row0, hsize_t rows, const void* data, hid_t dxpl) {
  Id fspace(H5Dget_space(d), H5Sclose, "file space");
  const int rank = H5Sget_simple_extent_ndims(fspace);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(fspace, dims.data(), nullptr);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = row0;
  count[0] = rows;
  std::vector<hsize_t> mdims = count;
  if (rows == 0) mdims[0] = 1;
  Id mspace(H5Screate_simple(rank, mdims.data(), nullptr), H5Sclose, "memory space");
  if (rows == 0) {
    check(H5Sselect_none(fspace), "select none");
    check(H5Sselect_none(mspace), "select none");
  } else {
    check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), "hyperslab");
  }
  check(H5Dwrite(d, mem_type, mspace, fspace, dxpl, data), "collective write");
}

struct SubjectLayout {
  std::vector<size_t> jobs;  ///< indices into plan.jobs
  long n_parcels = 0;
  std::vector<std::string> parcel_names;  ///< from the subject's first job file (as results.csv)
};

}  // namespace

int gather_results(const std::string& run_dir, MPI_Comm comm, bool take_lock, const GatherCeiling& gc) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  // Input errors (no plan, an edited plan, a RUN_DIR in use) end here, on every rank alike, without
  // an MPI_Abort: rank 0 decides and tells the others.
  Plan p;
  std::unique_ptr<fs::FileLock> lock;
  {
    int setup = 0;
    std::string error;
    try {
      p = Plan::load(run_dir);
      if (rank == 0 && take_lock) lock = std::make_unique<fs::FileLock>(run_lock_path(run_dir), "brainsweep gather");
    } catch (const Error& e) {
      setup = e.exit_code(), error = e.what();
    } catch (const std::exception& e) {
      setup = 1, error = e.what();
    }
    int root = setup;
    MPI_Bcast(&root, 1, MPI_INT, 0, comm);
    if (rank == 0 && setup != 0) fmt::print(stderr, "[rank 0/{}] gather: {}\n", size, error);
    if (root != 0) return root;
    if (setup != 0) {  // only this rank failed (a file system that differs between nodes)
      fmt::print(stderr, "[rank {}/{}] gather: {}\n", rank, size, error);
      MPI_Abort(comm, setup);
    }
  }
  if (p.rsa) {  // an RSA plan: its results are results.csv, the RSA table (rsa_sweep.hpp)
    int code = 0;
    if (rank == 0) {
      try {
        if (!gc.file.empty())
          throw ConfigError("--ceiling " + gc.file + ": " + run_dir + " is an RSA plan (its noise ceiling is in results.csv)");
        write_rsa_results(p, run_dir, std::cout);
        spdlog::info("wrote {} and {} (an RSA plan has no results.h5)", (sfs::path(run_dir) / "results.csv").string(),
                     (sfs::path(run_dir) / "rsa_report.txt").string());
      } catch (const Error& e) {
        fmt::print(stderr, "[rank 0/{}] gather: {}\n", size, e.what());
        code = e.exit_code();
      }
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    return code;
  }
  const std::string final_path = (sfs::path(run_dir) / "results.h5").string();
  const std::string tmp_path = final_path + ".tmp";
  // The noise ceiling (gather --ceiling): read and matched to the plan's subjects and parcels on
  // every rank before anything is written.
  CeilingTable ceiling_table;
  std::map<std::string, std::vector<double>> ceiling;  // subject → per parcel, in parcel order
  size_t ceiling_eval = 0;                              // index of its eval set
  if (!gc.file.empty()) {
    int bad_ceiling = 0;
    try {
      if (std::isnan(gc.min_ceiling)) throw ConfigError("--min-ceiling: expected a number, found nan");
      ceiling_table = read_ceiling_csv(gc.file);
      const auto it = std::find_if(p.eval.begin(), p.eval.end(), [&](const EvalSet& e) { return e.name == ceiling_table.set; });
      if (it == p.eval.end()) {
        std::string sets;
        for (const auto& e : p.eval) sets += (sets.empty() ? "" : ", ") + e.name;
        throw ConfigError(fmt::format("--ceiling {}: computed on set '{}', which is not an eval set of {} (eval sets: {})",
                                      gc.file, ceiling_table.set, run_dir, sets.empty() ? "none" : sets));
      }
      ceiling_eval = static_cast<size_t>(it - p.eval.begin());
      for (const auto& sub : p.subjects) {
        const auto names = open_job_file(p, p.jobs[static_cast<size_t>(std::find_if(p.jobs.begin(), p.jobs.end(), [&](const Job& j) {
                                                 return j.subject == sub;
                                               }) - p.jobs.begin())], run_dir).read_string_attr("/", "parcel_names");
        for (const auto& name : names) {
          const auto c = ceiling_table.ceiling.find({sub, name});
          if (c == ceiling_table.ceiling.end())
            throw DataError(fmt::format("--ceiling {}: no ceiling for {} parcel {} (expected every subject and parcel of "
                                        "the run)", gc.file, sub, name));
          ceiling[sub].push_back(c->second);
        }
      }
    } catch (const Error& e) {
      if (rank == 0) fmt::print(stderr, "[rank 0/{}] gather: {}\n", size, e.what());
      bad_ceiling = e.exit_code();
    }
    int bad_any = 0;
    MPI_Allreduce(&bad_ceiling, &bad_any, 1, MPI_INT, MPI_MAX, comm);
    if (bad_any != 0) return bad_any;
  }

  const std::vector<std::string> eval_eps = p.eval_episodes();
  std::map<std::string, SubjectLayout> layout;
  for (size_t j = 0; j < p.jobs.size(); ++j) layout[p.jobs[j].subject].jobs.push_back(j);
  for (const auto& sub : p.subjects) layout[sub].n_parcels = p.fmri.at(sub).begin()->second.n_parcels;
  const hsize_t n_alphas = p.alphas.size();
  auto block = [&](size_t n, int r) { return std::make_pair(n * static_cast<size_t>(r) / static_cast<size_t>(size),
                                                            n * static_cast<size_t>(r + 1) / static_cast<size_t>(size)); };

  // Check this rank's job files first, so that a missing or malformed file fails before any
  // collective HDF5 call (a rank that threw inside one would hang the others).
  int bad = 0;
  try {
    for (const auto& sub : p.subjects) {
      auto& L = layout[sub];
      // Every rank needs the names: dataset creation (its string type) is collective.
      L.parcel_names = open_job_file(p, p.jobs[L.jobs.front()], run_dir).read_string_attr("/", "parcel_names");
      const auto [lo, hi] = block(L.jobs.size(), rank);
      for (size_t k = lo; k < hi; ++k) {
        const Job& job = p.jobs[L.jobs[k]];
        const h5::File f = open_job_file(p, job, run_dir);  // this job's file, of this plan
        auto expect = [&](const std::string& name, std::vector<hsize_t> dims) {
          if (f.shape(name) != dims)
            throw DataError(f.path() + ": dataset '" + name + "' has an unexpected shape (the plan changed?)");
        };
        const hsize_t P = static_cast<hsize_t>(L.n_parcels);
        expect("alpha", {P});
        expect("cv_r", {P});
        expect("cv_scores", {n_alphas, P});
        for (const auto& e : p.eval) expect("eval/" + e.name + "/r", {P});
        for (const auto& ep : eval_eps)
          expect("predictions/" + ep, {static_cast<hsize_t>(p.fmri.at(sub).at(ep).n_tr), P});
      }
    }
  } catch (const Error& e) {
    fmt::print(stderr, "[rank {}/{}] gather: {}\n", rank, size, e.what());
    bad = e.exit_code();
  }
  // Room for the file: the datasets' bytes (and 1 % plus 1 MiB for HDF5's metadata) against the
  // free space of RUN_DIR's file system, so that a full disk fails here and not in a collective write.
  if (rank == 0 && bad == 0) {
    double bytes = 0;
    for (const auto& sub : p.subjects) {
      const double J = static_cast<double>(layout[sub].jobs.size()), P = static_cast<double>(layout[sub].n_parcels);
      bytes += J * P * 8.0 * (2.0 + static_cast<double>(n_alphas) + static_cast<double>(p.eval.size()));
      for (const auto& ep : eval_eps) bytes += J * P * 4.0 * static_cast<double>(p.fmri.at(sub).at(ep).n_tr);
    }
    bytes = bytes * 1.01 + (1 << 20);
    std::error_code ec;
    const auto space = sfs::space(run_dir, ec);
    if (!ec && static_cast<double>(space.available) < bytes) {
      fmt::print(stderr, "[rank 0/{}] gather: {}: needs about {:.1f} MB, {:.1f} MB free on its file system "
                         "(nothing written)\n", size, final_path, bytes / 1e6, static_cast<double>(space.available) / 1e6);
      bad = 1;
    }
  }
  int bad_all = 0;
  MPI_Allreduce(&bad, &bad_all, 1, MPI_INT, MPI_MAX, comm);
  if (bad_all != 0) return bad_all;

  try {
    Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
    check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
    Id file(H5Fcreate(tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose, "create " + tmp_path);
    Id dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose, "transfer list");
    check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");

    // Root attributes and job metadata (written by rank 0; creation is collective).
    Id root(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose, "root group");
    string_attr(root, "format", "brainsweep-results/1");
    string_attr(root, "brainsweep_version", BRAINSWEEP_VERSION);
    string_attr(root, "dataset", p.dataset_name);
    string_attr(root, "atlas", p.atlas);
    std::vector<std::string> ids, units, models, layers, subjects, set_names;
    std::vector<int> hrf, win;
    for (const auto& j : p.jobs) {
      std::string l;
      for (const auto& x : j.layers) l += (l.empty() ? "" : "+") + x;
      ids.push_back(j.job_id), units.push_back(j.unit_id), models.push_back(j.model), layers.push_back(l);
      subjects.push_back(j.subject), hrf.push_back(j.hrf_delay), win.push_back(j.stimulus_window);
    }
    for (const auto& e : p.eval) set_names.push_back(e.name);
    write_strings(file, "jobs/job_id", ids, rank);
    write_strings(file, "jobs/unit_id", units, rank);
    write_strings(file, "jobs/model", models, rank);
    write_strings(file, "jobs/layers", layers, rank);
    write_strings(file, "jobs/subject", subjects, rank);
    write_small(file, "jobs/hrf_delay", H5T_NATIVE_INT, hrf, rank);
    write_small(file, "jobs/stimulus_window", H5T_NATIVE_INT, win, rank);
    write_small(file, "alphas", H5T_NATIVE_DOUBLE, p.alphas, rank);
    write_strings(file, "eval_sets", set_names, rank);
    write_strings(file, "subject_names", p.subjects, rank);
    if (!gc.file.empty()) {
      string_attr(root, "ceiling_file", gc.file);
      string_attr(root, "ceiling_method", ceiling_table.method);
      string_attr(root, "ceiling_set", ceiling_table.set);
      string_attr(root, "min_ceiling", fmt::format("{:.9g}", gc.min_ceiling));
    }

    for (const auto& sub : p.subjects) {
      const auto& L = layout[sub];
      const std::string g = "subjects/" + sub + "/";
      const hsize_t J = L.jobs.size(), P = static_cast<hsize_t>(L.n_parcels);
      std::vector<long long> index(L.jobs.begin(), L.jobs.end());
      write_small(file, g + "job_index", H5T_NATIVE_LLONG, index, rank);
      write_strings(file, g + "parcel_names", L.parcel_names, rank);
      Id alpha(create(file, g + "alpha", H5T_IEEE_F64LE, {J, P}), H5Dclose, g + "alpha");
      Id cv_r(create(file, g + "cv_r", H5T_IEEE_F64LE, {J, P}), H5Dclose, g + "cv_r");
      Id cv_scores(create(file, g + "cv_scores", H5T_IEEE_F64LE, {J, n_alphas, P}), H5Dclose, g + "cv_scores");
      std::vector<hid_t> eval_r, preds;
      for (const auto& e : p.eval) eval_r.push_back(create(file, g + "eval/" + e.name + "/r", H5T_IEEE_F64LE, {J, P}));
      std::vector<hsize_t> n_tr;
      for (const auto& ep : eval_eps) {
        n_tr.push_back(static_cast<hsize_t>(p.fmri.at(sub).at(ep).n_tr));
        preds.push_back(create(file, g + "predictions/" + ep, H5T_IEEE_F32LE, {J, n_tr.back(), P}));
      }
      struct Closer {
        std::vector<hid_t>& v;
        ~Closer() {
          for (hid_t d : v)
            if (d >= 0) H5Dclose(d);
        }
      } c1{eval_r}, c2{preds};
      for (hid_t d : eval_r) check(d, "create eval dataset");
      for (hid_t d : preds) check(d, "create predictions dataset");
      std::unique_ptr<Id> r_norm;  // eval/<ceiling set>/r_normalized
      if (!gc.file.empty()) {
        write_small(file, g + "ceiling/" + ceiling_table.set, H5T_NATIVE_DOUBLE, ceiling.at(sub), rank);
        const std::string name = g + "eval/" + ceiling_table.set + "/r_normalized";
        r_norm = std::make_unique<Id>(create(file, name, H5T_IEEE_F64LE, {J, P}), H5Dclose, name);
      }

      // Rounds of at most `per_round` jobs per rank, so that predictions stay within ~256 MiB.
      hsize_t pred_bytes = 0;
      for (hsize_t t : n_tr) pred_bytes += t * P * sizeof(float);
      const hsize_t per_round = std::max<hsize_t>(1, (256ull << 20) / std::max<hsize_t>(1, pred_bytes));
      const hsize_t max_block = (J + static_cast<hsize_t>(size) - 1) / static_cast<hsize_t>(size);
      const hsize_t rounds = (max_block + per_round - 1) / per_round;
      const auto [lo, hi] = block(J, rank);
      for (hsize_t r = 0; r < rounds; ++r) {
        const hsize_t r0 = std::min<hsize_t>(hi, lo + r * per_round), r1 = std::min<hsize_t>(hi, r0 + per_round);
        const hsize_t rows = r1 - r0;
        std::vector<double> a(rows * P), cr(rows * P), cs(rows * n_alphas * P);
        std::vector<std::vector<double>> er(p.eval.size(), std::vector<double>(rows * P));
        std::vector<std::vector<float>> pr(eval_eps.size());
        for (size_t e = 0; e < eval_eps.size(); ++e) pr[e].resize(rows * n_tr[e] * P);
        for (hsize_t k = 0; k < rows; ++k) {
          const h5::File f(job_file_path(run_dir, p.jobs[L.jobs[r0 + k]].job_id));  // checked above
          auto put = [&](const std::vector<double>& v, std::vector<double>& out, hsize_t stride) {
            std::copy(v.begin(), v.end(), out.begin() + static_cast<long>(k * stride));
          };
          put(f.read_f64("alpha"), a, P);
          put(f.read_f64("cv_r"), cr, P);
          put(f.read_f64("cv_scores"), cs, n_alphas * P);
          for (size_t e = 0; e < p.eval.size(); ++e) put(f.read_f64("eval/" + p.eval[e].name + "/r"), er[e], P);
          for (size_t e = 0; e < eval_eps.size(); ++e) {
            const MatrixF m = f.read_f32("predictions/" + eval_eps[e]);
            std::copy(m.data(), m.data() + m.size(), pr[e].begin() + static_cast<long>(k * n_tr[e] * P));
          }
        }
        write_rows(alpha, H5T_NATIVE_DOUBLE, r0, rows, a.data(), dxpl);
        write_rows(cv_r, H5T_NATIVE_DOUBLE, r0, rows, cr.data(), dxpl);
        write_rows(cv_scores, H5T_NATIVE_DOUBLE, r0, rows, cs.data(), dxpl);
        for (size_t e = 0; e < p.eval.size(); ++e) write_rows(eval_r[e], H5T_NATIVE_DOUBLE, r0, rows, er[e].data(), dxpl);
        if (r_norm) {
          const auto& c = ceiling.at(sub);
          std::vector<double> rn(rows * P);
          for (hsize_t k = 0; k < rows; ++k)
            for (hsize_t q = 0; q < P; ++q)
              rn[k * P + q] = c[q] >= gc.min_ceiling ? er[ceiling_eval][k * P + q] / c[q] : std::nan("");
          write_rows(*r_norm, H5T_NATIVE_DOUBLE, r0, rows, rn.data(), dxpl);
        }
        for (size_t e = 0; e < eval_eps.size(); ++e) write_rows(preds[e], H5T_NATIVE_FLOAT, r0, rows, pr[e].data(), dxpl);
      }
    }
    root.close("close the root group");
    file.close("close (flush) " + tmp_path);
  } catch (const std::exception& e) {  // H5Fclose above is collective: a failed write ends every rank here
    std::error_code ec;
    sfs::remove(tmp_path, ec);  // every rank tries: no temporary survives
    const int err = errno;
    fmt::print(stderr, "[rank {}/{}] gather: {}: {}{}; {} removed\n", rank, size, tmp_path, e.what(),
               err ? std::string(" (") + std::strerror(err) + ")" : std::string(), tmp_path);
    // Other ranks may wait in a collective call that will not complete: end them all.
    MPI_Abort(comm, 1);
  }
  MPI_Barrier(comm);
  if (rank == 0) {  // written and closed: make it durable before it takes the final name
    try {
      fs::sync_file(tmp_path);
    } catch (const Error& e) {
      std::error_code ec;
      sfs::remove(tmp_path, ec);
      fmt::print(stderr, "[rank 0/{}] gather: {}; {} removed\n", size, e.what(), tmp_path);
      MPI_Abort(comm, 1);
    }
  }
  int code = 0;
  if (rank == 0) {
    std::error_code ec;
    sfs::rename(tmp_path, final_path, ec);
    if (ec) {
      fmt::print(stderr, "[rank 0/{}] {}: cannot rename into place: {}\n", size, tmp_path, ec.message());
      code = 1;
    } else {
      spdlog::info("wrote {} ({} jobs, gathered on {} ranks)", final_path, p.jobs.size(), size);
    }
    if (code == 0 && gc.file.empty() && take_lock) {
      // A plain `brainsweep gather` writes results.csv too: an earlier `gather --ceiling`'s columns would
      // otherwise stay in results.csv while results.h5 no longer has them (issue #25). (Within `run`,
      // which passes take_lock = false, results.csv was just written.)
      try {
        write_results_csv(p, run_dir);
      } catch (const Error& e) {
        fmt::print(stderr, "[rank 0/{}] gather: {}\n", size, e.what());
        code = e.exit_code();
      }
    }
    if (code == 0 && !gc.file.empty()) {
      try {
        write_results_csv(p, run_dir, &ceiling, ceiling_table.set, gc.min_ceiling);
        long below = 0, total = 0;
        for (const auto& [sub, v] : ceiling)
          for (double c : v) below += c < gc.min_ceiling, ++total;
        spdlog::info("with the {} ceiling on set {} ({}): results.csv and results.h5 give r / ceiling; {} of {} subject × "
                     "parcel pairs have a ceiling below {} and are not normalised", ceiling_table.method,
                     ceiling_table.set, gc.file, below, total, gc.min_ceiling);
      } catch (const Error& e) {
        fmt::print(stderr, "[rank 0/{}] gather: {}\n", size, e.what());
        code = e.exit_code();
      }
    }
  }
  MPI_Bcast(&code, 1, MPI_INT, 0, comm);
  return code;
}

}  // namespace brainsweep
