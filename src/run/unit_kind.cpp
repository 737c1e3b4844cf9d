// The three kinds of work units behind UnitKind (unit_kind.hpp).
#include "brainsweep/unit_kind.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "brainsweep/fs.hpp"
#include "brainsweep/rsa_sweep.hpp"
#include "brainsweep/run.hpp"

namespace brainsweep {
namespace {

std::string subjects_of(const Unit& u) { return fmt::format("{}", fmt::join(u.subjects, ",")); }

/// Closed-form RidgeCV of one design for every subject of the unit (fit_unit, ENCODING.md).
class RidgeUnits final : public UnitKind {
 public:
  const char* name() const override { return "ridge"; }
  void run(const Plan& p, const Unit& u, const Backend& be, const std::string& run_dir) const override {
    fit_unit(p, u, be, run_dir);
  }
  std::string describe(const Plan&, const Unit& u, const std::string&) const override {
    return fmt::format("{} {} hrf_delay={} stimulus_window={} [{}]", u.model, fmt::join(u.layers, "+"), u.hrf_delay,
                       u.stimulus_window, subjects_of(u));
  }
};

/// One feature set's RDM against every subject × ROI (rsa_unit, docs/metrics.md).
class RsaUnits final : public UnitKind {
 public:
  const char* name() const override { return "rsa"; }
  void run(const Plan& p, const Unit& u, const Backend&, const std::string& run_dir) const override {
    rsa_unit(p, u, run_dir);
  }
  std::string describe(const Plan&, const Unit& u, const std::string&) const override {
    return fmt::format("rsa {} {} hrf_delay={} stimulus_window={} [{}]", u.model, fmt::join(u.layers, "+"),
                       u.hrf_delay, u.stimulus_window, subjects_of(u));
  }
  std::string stale(const Plan& p, const Unit& u, const std::string& run_dir) const override {
    return rsa_stale_inputs(p, u, run_dir);
  }
};

/// MedARC's multi-subject convolutional encoder, trained in the libtorch module (encoder_unit,
/// docs/trained-encoders.md).
class EncoderUnits final : public UnitKind {
 public:
  const char* name() const override { return "encoder"; }
  void run(const Plan& p, const Unit& u, const Backend&, const std::string& run_dir) const override {
    encoder_unit(p, u, run_dir);
  }
  std::string describe(const Plan&, const Unit& u, const std::string& run_dir) const override {
    std::string epoch;  // the last finished epoch while it trains (units/<id>.epoch)
    std::error_code ec;
    const auto path = std::filesystem::path(run_dir) / "units" / (u.unit_id + ".epoch");
    if (std::filesystem::exists(path, ec)) {
      epoch = fs::read_text(path.string());
      while (!epoch.empty() && epoch.back() == '\n') epoch.pop_back();
      epoch = "; training: " + epoch;
    }
    return fmt::format("encoder {} k={} d={} lr={:g} [{}]{}", fmt::join(u.layers, "+"), u.encoder->kernel_size,
                       u.encoder->embed_dim, u.encoder->lr, subjects_of(u), epoch);
  }
};

}  // namespace

const UnitKind& unit_kind(const Plan& p, const Unit& u) {
  static const RidgeUnits ridge;
  static const RsaUnits rsa;
  static const EncoderUnits encoder;
  if (p.rsa) return rsa;
  if (u.encoder) return encoder;
  return ridge;
}

}  // namespace brainsweep
