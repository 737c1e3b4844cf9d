#pragma once
/// Dataset descriptors and sweep files (YAML), read in one place into typed structs.
/// Unknown keys are errors that name the file, the key path and the line (ARCHITECTURE.md).
/// Relative paths in both files are resolved against the current working directory.
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace brainsweep {

/// Why `precision: float32` is refused (issue #25, measured on Sherlock pmc481 against float64).
inline constexpr const char* kFloat32Refused =
    "refused: a float32 Gram matrix has eigenvalue errors of order 1e-7 of its largest eigenvalue, which exceed the "
    "smallest alphas on ill-conditioned feature sets (Sherlock's topic_model: CV r off by 0.13, alphas differing on "
    "45 % of targets), and float32 moments cancel where a fold's held-out predictions have a large mean (binary "
    "annotations: CV r off by 8e-3); use mixed (the default: float32 products with the targets, float64 Gram "
    "matrices and decompositions, as fast where the Gram matrix is not the bulk of the work) or float64";

/// A rule matches a grid point when every key it gives equals the point's value.
struct GridRule {
  std::optional<std::string> model;
  std::optional<std::vector<std::string>> layers;
  std::optional<int> hrf_delay, stimulus_window;
};

/// Where one family of fMRI runs lives: `file` is a template relative to the dataset root with
/// `{subject}` and `{atlas}`; `episodes` a regex (full match) of the episodes stored in that file;
/// `dataset` the HDF5 key of an episode in that file, a template with `{episode}` (e.g. Haxby's
/// `run-01` is `"{episode}"`), or empty for the Algonauts/Sherlock layout `ses-XXX_task-<episode>`.
struct FmriRule {
  std::string file;
  std::string episodes;
  std::regex episodes_re;
  std::string dataset;
};

/// How an episode maps to the MedARC feature layout
/// `features/<model>/<stimset>/<group>/<stimset>_<feature_episode>.h5` and to its movie.
/// `stimset`, `group`, `movie` and `feature_episode` may use `{1}`, `{2}`, ... for the capture
/// groups of the `episodes` regex; `feature_episode` defaults to the episode itself.
struct StimulusRule {
  std::string episodes;
  std::regex episodes_re;
  std::string stimset, group, movie, feature_episode;
};

/// A dataset descriptor (`configs/datasets/*.yaml`).
struct DatasetDescriptor {
  std::string name;
  std::string descriptor_path;  ///< absolute path of the YAML file
  std::string root;             ///< absolute data root
  double tr = 0;                ///< seconds per fMRI sample
  int exclude_start = 0;        ///< samples left out at the start of every episode (ENCODING.md §1)
  int exclude_end = 0;          ///< ... and at its end
  int max_missing_feature_rows = 10;  ///< a feature file may have at most this many rows fewer than the fMRI
  int max_extra_feature_rows = 10;    ///< ... and at most this many more (checked by `generate`; more is
                                      ///< another episode's file or a wrong TR)
  std::vector<FmriRule> fmri;
  std::string feature_file;     ///< template relative to root: {model} {stimset} {group} {episode}
  std::vector<StimulusRule> stimuli;
  /// Where the sample counts of test sets are (issue #5): a template relative to root with
  /// `{subject}` and `{test_set}` (np.save'd dicts, DATA.md), or a JSON file; empty if none.
  std::string sample_counts;

  /// Load a descriptor. @param root_override  replaces the descriptor's `root` when set.
  /// @throw ConfigError  on a missing, unknown or ill-typed key (file, key path and line)
  static DatasetDescriptor load(const std::string& path, const std::optional<std::string>& root_override);
  /// Absolute path of the fMRI file that holds `episode` for `subject`. @throw DataError if no rule matches.
  std::string fmri_file(const std::string& subject, const std::string& atlas, const std::string& episode) const;
  /// The `dataset` template of the fmri rule of `episode` (empty: `ses-XXX_task-<episode>` keys).
  /// @throw DataError if no rule matches.
  std::string fmri_key(const std::string& episode) const;
  /// Absolute path of the feature file of `model` for `episode`. @throw DataError if no rule matches.
  std::string feature_file_of(const std::string& model, const std::string& episode) const;
  /// Movie an episode belongs to (episodes of one movie are concatenated for scoring, ENCODING.md §5).
  std::string movie_of(const std::string& episode) const;

 private:
  const FmriRule& fmri_rule(const std::string& episode) const;
  const StimulusRule& stimulus_rule(const std::string& episode, std::smatch& m) const;
};

/// One band of a banded feature set (issue #14): a model and its layers.
struct FeatureBand {
  std::string model;
  std::vector<std::string> layers;
  bool operator==(const FeatureBand&) const = default;
};

/// One feature set: a model and its layers, concatenated column-wise in this order. A banded one
/// (`bands:` in the sweep, one entry per scaling) has `bands` and `gamma` (one weight per band on the
/// simplex, himalaya's kernel weights): its design is the bands' columns side by side, each band's
/// standardised columns multiplied by √γ_k (ENCODING.md §2 then himalaya's GroupRidgeCV scaling);
/// `model` is then `banded` and `layers` one label per band, `<model>/<layer+layer>@<γ>`.
struct FeatureSet {
  std::string model;
  std::vector<std::string> layers;
  std::vector<FeatureBand> bands;
  std::vector<double> gamma;
  /// A variance partition's subset model (issue #26 §1, `partition:` in the sweep): the family's
  /// feature spaces, `<model>/<layer+layer>` joined by `|`; the subset is `bands` (γ all 1: plain
  /// concatenation), `model` "partition". Empty otherwise.
  std::string partition;
  /// "pls" for a PLS encoder of a plain feature set (issue #26 §6, `pls:` in the sweep): `model` "pls",
  /// `layers` one label `<model>/<layer+layer>`, `bands` the set itself (γ 1). Empty: ridge.
  std::string estimator;
};

/// The sweep's `pls:` (docs/ridge-engine.md#pls-encoding): a PLS encoder beside the ridge one for
/// every plain feature set, its number of components chosen per parcel by the sweep's CV.
struct PlsSpec {
  std::vector<long> components{5, 10, 15, 20, 25, 30, 35, 40, 45, 50};  ///< ascending, each ≥ 1 (BBScore's grid)
  bool scale = true;  ///< scikit-learn's `scale`: X and Y divided by their SDs (ddof 1) before PLS
};

/// The most feature spaces a `partition:` may list (2^K − 1 subset models per grid point).
inline constexpr size_t kMaxPartitionSpaces = 4;

/// The most Dirichlet samples a banded feature set's `scalings.samples` may ask for (each is a unit
/// of the plan per grid point).
inline constexpr long kMaxScalingSamples = 100000;

/// `n` points of the simplex in `b` dimensions, himalaya's generate_dirichlet_samples order: sample
/// i from Dirichlet(concentrations[i mod len] · 1), drawn with our own counter-based stream (seed):
/// Gamma variates by Marsaglia & Tsang (2000) (α < 1: Gamma(α + 1) · U^{1/α}), normals by
/// Box–Muller, uniforms from splitmix64_at. The same on every platform. concentrations > 0.
std::vector<std::vector<double>> dirichlet_samples(size_t n, size_t b, const std::vector<double>& concentrations,
                                                   std::uint64_t seed);

/// The label of a band in a banded feature set's layers: `<model>/<layer+layer>@<γ, 6 significant digits>`.
std::string band_label(const FeatureBand& band, double gamma);

/// The `rsa:` section of a sweep (docs/metrics.md, "RSA through the MPI driver"): with it, `run`
/// compares every feature set's RDM with every subject × ROI instead of fitting ridge encoders.
struct RsaSpec {
  std::string events;                    ///< events file of each episode: a template with {episode}
  std::vector<std::string> sets;         ///< sets of the sweep (train, eval sets) whose episodes are the runs
  std::string distance = "correlation";  ///< correlation | euclidean | crossnobis
  std::vector<std::string> comparisons{"corr"};        ///< corr | spearman | tau-a | cosine | cka | cka-debiased
  std::vector<std::pair<std::string, std::string>> rois;  ///< NAME → REGEX over parcel names; none: all parcels
  long bootstrap = 1000, permutations = 1000;
  std::uint64_t seed = 0;
  bool ceiling = true;
};

/// One configuration of a trained encoder (issue #23, TRAINED_ENCODER.md; docs/trained-encoders.md):
/// its feature streams and hyperparameters, one point of the `encoder:` grid. Defaults are MedARC's.
struct EncoderConfig {
  std::vector<FeatureBand> streams;  ///< one stream per entry: the model's layers side by side (T × D_i)
  int embed_dim = 192, kernel_size = 45;
  bool causal = false, positive = false, tied = false, shared_head = true, subject_heads = true;
  double lr = 3e-4, weight_decay = 0.1;
  int batch_size = 16, sample_length = 64, num_samples = 2000, epochs = 10, patience = 0;
  bool operator==(const EncoderConfig&) const = default;
};

/// The `encoder:` section of a sweep: trained encoders beside (or instead of) the ridge jobs.
struct EncoderSpec {
  std::vector<std::vector<FeatureBand>> feature_sets;  ///< each a list of streams
  /// The eval set whose mean r stops training, or empty with `holdout`.
  std::string early_stopping;
  /// early_stopping: {holdout: F}: the last fraction F of every training episode is held out of the
  /// windows and its mean r stops training (for data without a separate validation movie, e.g. Sherlock).
  double holdout = 0;
  /// Hyperparameter → its values, in the order of kEncoderGridKeys (booleans as 0/1); a key not given
  /// has MedARC's default alone.
  std::vector<std::pair<std::string, std::vector<double>>> grid;
  std::optional<size_t> sample_n;  ///< sample.n: that many hyperparameter points, each with every feature set
  std::uint64_t sample_seed = 0;
  std::string device = "cpu";      ///< cpu | cuda (libtorch)
  int threads = 0;                 ///< CPU threads per rank for the GEMMs (OpenBLAS; 0: its default); libtorch's own ops run on one
  /// Every feature set × every grid point (or the sample_n points drawn with sample_seed), in that
  /// order: feature set outermost, then the points in grid order (last key fastest).
  std::vector<EncoderConfig> configs() const;
};
/// The hyperparameter keys of `encoder:`, in grid order.
inline const std::vector<std::string> kEncoderGridKeys = {
    "lr", "weight_decay", "kernel_size", "embed_dim", "num_samples", "sample_length", "batch_size", "epochs",
    "patience", "causal", "positive", "tied", "shared_head", "subject_heads"};

/// A sweep file (`sweeps/*.yaml`), with ENCODING.md defaults filled in.
struct Sweep {
  std::string path;                     ///< absolute path of the sweep file
  std::string dataset;                  ///< absolute path of the descriptor
  std::optional<std::string> dataset_root;
  std::string atlas;
  std::vector<std::string> subjects;
  std::vector<FeatureSet> features;
  std::vector<int> hrf_delay{3};        ///< TRs; ENCODING.md §1 default 3
  std::vector<int> stimulus_window{5};  ///< TRs; default 5
  std::vector<GridRule> include;        ///< grid.include: keep points matching one of these (all if empty)
  std::vector<GridRule> exclude;        ///< grid.exclude: drop points matching one of these
  std::optional<size_t> sample_n;       ///< sample.n: random subsample of the grid points (grid.hpp)
  std::uint64_t sample_seed = 0;        ///< sample.seed
  int folds = 5;
  std::vector<double> alphas;           ///< ascending; default 10^-1 … 10^7, 17 steps
  std::string backend = "cpu";
  std::string precision = "mixed";      ///< mixed | float64 (RidgeOptions; float32 is refused)
  std::string prediction_dtype = "float32";  ///< float32 | float16: how job files store predictions
  std::string episodes = "per_subject";  ///< per_subject | common: subjects that lack training episodes
  std::vector<std::string> train;
  std::vector<std::pair<std::string, std::vector<std::string>>> eval;  ///< named eval sets, in file order
  /// Test sets (features, no fMRI): name → episodes; an empty list means `auto` (every episode of
  /// the set's sample counts). In file order.
  std::vector<std::pair<std::string, std::vector<std::string>>> test;
  /// Sample counts of the test sets: JSON file or template (read_sample_counts); replaces the
  /// descriptor's `sample_counts`.
  std::optional<std::string> sample_counts;
  std::optional<RsaSpec> rsa;  ///< `rsa:`: an RSA sweep (docs/metrics.md)
  std::optional<EncoderSpec> encoder;  ///< `encoder:`: trained encoders (docs/trained-encoders.md)
  std::optional<PlsSpec> pls;          ///< `pls:`: PLS encoders beside the ridge ones (FeatureSet::estimator)

  /// @throw ConfigError  naming the file, key path and line for unknown keys, wrong types, empty
  ///        grids, alphas <= 0, stimulus_window < 1, hrf_delay < 0, folds < 2, a test set named like
  ///        an eval set or `cv`
  static Sweep load(const std::string& path);
};

/// The default alpha grid of ENCODING.md §4: 10^-1 … 10^7 in 17 log-spaced steps.
std::vector<double> default_alphas();

}  // namespace brainsweep
