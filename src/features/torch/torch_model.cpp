// The only translation unit of brainsweep that includes libtorch (see torch_model.hpp).
#include "brainsweep/torch_model.hpp"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

#include "brainsweep/errors.hpp"
#include "brainsweep/local_rank.hpp"

namespace brainsweep {

long HostTensor::numel() const {
  long n = 1;
  for (long s : shape) n *= s;
  return n;
}

namespace {

using torch::jit::Node;
using torch::jit::Value;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string shape_str(const at::Tensor& t) {
  std::string s = "(";
  for (long i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

/// Module path of every value that is a submodule of `self` ("" for self), and the method calls.
void scan_block(torch::jit::Block* b, std::unordered_map<Value*, std::string>& path, std::vector<Node*>& calls) {
  for (Node* n : b->nodes()) {
    if (n->kind() == c10::prim::GetAttr) {
      auto it = path.find(n->input(0));
      if (it != path.end() && n->output()->type()->cast<c10::ClassType>()) {
        const std::string& name = n->s(c10::attr::name);
        path[n->output()] = it->second.empty() ? name : it->second + "." + name;
      }
    } else if (n->kind() == c10::prim::CallMethod) {
      calls.push_back(n);
    }
    for (torch::jit::Block* sb : n->blocks()) scan_block(sb, path, calls);
  }
}

/// The first tensor of a submodule's output (a tensor, or a tuple/list whose first element is one).
Value* first_tensor(torch::jit::Graph& g, Value* v) {
  if (v->type()->cast<c10::TensorType>()) return v;
  if (auto tt = v->type()->cast<c10::TupleType>()) {
    if (!tt->elements().empty() && tt->elements()[0]->cast<c10::TensorType>()) {
      Node* u = g.createTupleUnpack(v);
      u->insertAfter(v->node());
      return u->output(0);
    }
  }
  return nullptr;
}

}  // namespace

struct TorchModel::Impl {
  torch::jit::Module module;
  torch::Device device{torch::kCPU};
  std::vector<std::string> layers;
  std::string path;
  bool dict_output = false;        // layers are keys of forward's dict output
  std::string method = "forward";  // or the generated capture method
};

TorchModel::TorchModel(const std::string& path, const std::vector<std::string>& layers, const std::string& device,
                       int threads)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->layers = layers;
  if (threads > 0) torch::set_num_threads(threads);
  if (device == "cuda") {
    if (!torch::cuda::is_available())
      throw DeviceUnavailable(path + ": device 'cuda' asked, but libtorch sees no CUDA device (no GPU visible to " +
                              "this rank, or a CPU-only libtorch such as Debian's); not falling back to the CPU");
    const long local = node_local_rank();
    impl_->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local % torch::cuda::device_count()));
  } else if (device != "cpu") {
    throw ConfigError("model device '" + device + "': expected cpu or cuda");
  }
  try {
    impl_->module = torch::jit::load(path, impl_->device);
  } catch (const c10::Error& e) {
    throw DataError(path + ": cannot load a TorchScript model (" + std::string(e.what_without_backtrace()) + ")");
  }
  impl_->module.eval();
  auto& m = impl_->module;
  if (!m.find_method("forward")) throw DataError(path + ": the TorchScript model has no forward method");
  auto& fn = torch::jit::toGraphFunction(m.get_method("forward").function());
  auto g = fn.graph()->copy();
  // A model that returns a dict of tensors: the layers are its keys (checked at the first run).
  auto out_type = g->outputs()[0]->type();
  if (auto dt = out_type->cast<c10::DictType>()) {
    impl_->dict_output = true;
    return;
  }
  // Otherwise capture submodule outputs: inline the calls whose module path is a proper prefix of a
  // wanted layer until the wanted module's own call appears in forward's graph.
  std::map<std::string, Value*> captured;
  for (int iter = 0; iter < 10000; ++iter) {
    std::unordered_map<Value*, std::string> mpath{{g->inputs()[0], ""}};
    std::vector<Node*> calls;
    scan_block(g->block(), mpath, calls);
    Node* to_inline = nullptr;
    for (Node* n : calls) {
      auto it = mpath.find(n->input(0));
      if (it == mpath.end() || n->s(c10::attr::name) != "forward") continue;
      const std::string& p = it->second;
      for (const auto& w : layers) {
        if (captured.count(w)) continue;
        if (w == p) {
          if (n->owningBlock() != g->block())
            throw DataError(path + ": layer '" + w + "' is called inside a loop or branch of forward; export a " +
                            "model that returns it (a dict of tensors, see tools/export_torchscript.py)");
          Value* v = first_tensor(*g, n->output());
          if (!v)
            throw DataError(path + ": layer '" + w + "' returns " + n->output()->type()->str() +
                            ", not a tensor or a tuple starting with one");
          captured[w] = v;
        } else if (!to_inline && w.rfind(p + ".", 0) == 0) {
          to_inline = n;
        }
      }
    }
    if (!to_inline) break;
    auto cls = to_inline->input(0)->type()->expect<c10::ClassType>();
    auto callee = torch::jit::toGraphFunction(cls->getMethod("forward")).graph()->copy();
    std::vector<Value*> outs;
    {
      torch::jit::WithInsertPoint guard(to_inline);
      std::unordered_map<Value*, Value*> value_map;
      outs = torch::jit::insertGraph(*g, *callee, to_inline->inputs(), value_map);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      for (auto& kv : captured)
        if (kv.second == to_inline->outputs()[i]) kv.second = outs[i];
      to_inline->outputs()[i]->replaceAllUsesWith(outs[i]);
    }
    to_inline->destroy();
  }
  std::vector<std::string> missing;
  for (const auto& w : layers)
    if (!captured.count(w)) missing.push_back(w);
  if (!missing.empty())
    throw DataError(path + ": layer(s) " + join(missing) + " not found among the submodules that forward calls; " +
                    "available: " + join(module_names()));
  std::vector<Value*> values;
  for (const auto& w : layers) values.push_back(captured[w]);
  while (!g->outputs().empty()) g->eraseOutput(0);
  Node* tuple = g->createTuple(values);
  g->appendNode(tuple);
  g->registerOutput(tuple->output());
  impl_->method = "__brainsweep_capture";
  auto cu = m._ivalue()->compilation_unit();
  auto* f = cu->create_function(c10::QualifiedName(*m.type()->name(), impl_->method), g);
  m.type()->addMethod(f);
}

TorchModel::~TorchModel() = default;

std::vector<std::string> TorchModel::module_names() const {
  std::vector<std::string> names;
  for (const auto& nm : impl_->module.named_modules())
    if (!nm.name.empty()) names.push_back(nm.name);
  return names;
}

namespace {

MatrixF pool_tensor(at::Tensor t, long batch, const Pooling& pool, const std::string& layer, const std::string& path) {
  t = t.detach().to(torch::kCPU, torch::kFloat32);
  auto fail = [&](const std::string& why) {
    return DataError(path + ": layer '" + layer + "' output " + shape_str(t) + " cannot be pooled with '" + pool.mode +
                     "': " + why);
  };
  if (t.dim() < 2 || t.size(0) != batch) throw fail("expected (batch = " + std::to_string(batch) + ", ...)");
  const long cd = pool.channel_dim < 0 ? t.dim() + pool.channel_dim : pool.channel_dim;
  at::Tensor r;
  if (pool.mode == "flatten") {
    r = t.reshape({batch, -1});
  } else {
    if (cd <= 0 || cd >= t.dim()) throw fail("channel_dim " + std::to_string(pool.channel_dim) + " is out of range");
    if (pool.mode == "mean") {
      std::vector<long> dims;
      for (long d = 1; d < t.dim(); ++d)
        if (d != cd) dims.push_back(d);
      r = dims.empty() ? t : t.mean(dims);
    } else if (pool.mode == "cls" || pool.mode == "last") {
      if (t.dim() != 3 || cd != 2) throw fail("expected (batch, tokens, channels)");
      r = t.select(1, pool.mode == "cls" ? 0 : t.size(1) - 1);
    } else {
      throw ConfigError("pool mode '" + pool.mode + "': expected mean, cls, last or flatten");
    }
  }
  r = r.contiguous();
  MatrixF out(r.size(0), r.size(1));
  std::memcpy(out.data(), r.data_ptr<float>(), sizeof(float) * static_cast<size_t>(r.numel()));
  return out;
}

}  // namespace

namespace {
std::vector<MatrixF> run_model(TorchModel::Impl& impl, std::vector<c10::IValue> inputs, long batch,
                               const Pooling& pool) {
  torch::NoGradGuard no_grad;
  c10::IValue out;
  try {
    out = impl.module.get_method(impl.method)(std::move(inputs));
  } catch (const c10::Error& e) {
    throw DataError(impl.path + ": the model failed on an input of batch " + std::to_string(batch) + ": " +
                    e.what_without_backtrace());
  }
  std::vector<MatrixF> res;
  if (impl.dict_output) {
    auto dict = out.toGenericDict();
    std::vector<std::string> keys;
    for (const auto& kv : dict) keys.push_back(kv.key().toStringRef());
    for (const auto& w : impl.layers) {
      auto it = dict.find(w);
      if (it == dict.end())
        throw DataError(impl.path + ": layer '" + w + "' is not a key of the model's output; available: " + join(keys));
      if (!it->value().isTensor()) throw DataError(impl.path + ": output '" + w + "' is not a tensor");
      res.push_back(pool_tensor(it->value().toTensor(), batch, pool, w, impl.path));
    }
    return res;
  }
  const auto& elems = out.toTupleRef().elements();
  for (size_t i = 0; i < elems.size(); ++i)
    res.push_back(pool_tensor(elems[i].toTensor(), batch, pool, impl.layers[i], impl.path));
  return res;
}
}  // namespace

std::vector<MatrixF> TorchModel::run(const HostTensor& input, const Pooling& pool) const {
  auto t = torch::from_blob(const_cast<float*>(input.data.data()), input.shape, torch::kFloat32).to(impl_->device);
  return run_model(*impl_, {t}, input.shape.at(0), pool);
}

std::vector<MatrixF> TorchModel::run_tokens(const std::vector<std::int64_t>& ids, const Pooling& pool) const {
  auto t = torch::from_blob(const_cast<std::int64_t*>(ids.data()), {1, static_cast<long>(ids.size())}, torch::kInt64)
               .clone()
               .to(impl_->device);
  return run_model(*impl_, {t}, 1, pool);
}

HostTensor preprocess_frames(const std::vector<std::uint8_t>& rgb, long n, long h, long w, long height, long width,
                             const std::vector<double>& mean, const std::vector<double>& std) {
  torch::NoGradGuard no_grad;
  auto x = torch::from_blob(const_cast<std::uint8_t*>(rgb.data()), {n, h, w, 3}, torch::kUInt8)
               .permute({0, 3, 1, 2})
               .to(torch::kFloat32)
               .div(255.0);
  if (h != height || w != width)
    x = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{height, width})
               .mode(torch::kBilinear)
               .align_corners(false));
  auto m = torch::tensor(std::vector<float>(mean.begin(), mean.end())).view({1, 3, 1, 1});
  auto s = torch::tensor(std::vector<float>(std.begin(), std.end())).view({1, 3, 1, 1});
  x = ((x - m) / s).contiguous();
  HostTensor out;
  out.shape = {n, 3, height, width};
  out.data.assign(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  return out;
}

}  // namespace brainsweep
