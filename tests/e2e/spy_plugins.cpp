// tests/e2e/spy_plugins.cpp: a gpt that records every token it is trained or calibrated on, and a calibrating quantizer.
//
// For the test that proves validation tokens never reach training, warm-up or calibration: the
// architecture `spy-gpt` is the built-in gpt's model, and writes the inputs of every forward() made
// in training mode to RUN_DIR/spy-train.bin and of every logits() call (the host calls logits() only
// to calibrate) to RUN_DIR/spy-logits.bin, as raw int64. The quantizer `spy-calibrating` stores
// weights as they are and asks the host for calibration.
#include <fstream>
#include <memory>
#include <string>

#include "../../plugins/architecture/gpt/gpt_model.h"
#include "golf/golf.h"

namespace {

class SpyGpt final : public golf::Architecture {
 public:
  explicit SpyGpt(golf::PluginContext& ctx) : ctx_(ctx) {
    const golf::Config& c = ctx.config();
    shape_ = {c.get_int("vocab_size"), c.get_int("num_layers"), c.get_int("model_dim"), c.get_int("num_heads"),
              c.get_int("num_kv_heads"), 2, true, 0.005, 10000.0, 30.0, 1.5};
  }
  ~SpyGpt() override {
    const std::string dir = ctx_.run().run_dir();
    if (dir.empty() || !model_) return;  // the host's sizing copy on the meta device
    std::ofstream(dir + "/spy-train.bin", std::ios::binary) << train_;
    std::ofstream(dir + "/spy-logits.bin", std::ios::binary) << logits_;
  }
  void build() override {
    golf::gpt::GptShape s = shape_;
    s.train_seq_len = ctx_.run().seq_len();
    model_ = std::make_unique<golf::gpt::GptModel>(s, ctx_.run().device(), ctx_.run().compute_dtype(), ctx_.run().seed());
  }
  int64_t vocab_size() const override { return shape_.vocab_size; }
  std::vector<golf::Param> parameters() override { return model_->parameters(); }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    if (training_) record(x, train_);
    return model_->forward(x, y);
  }
  at::Tensor logits(const at::Tensor& x) override {
    record(x, logits_);
    return model_->logits(x);
  }
  void set_training(bool training) override { training_ = training; }
  bool set_linear_hook(golf::LinearHook* hook) override {
    hook_ = hook;
    if (model_) model_->set_hook(hook);
    return true;
  }

 private:
  static void record(const at::Tensor& x, std::string& out) {
    const at::Tensor c = x.to(at::kCPU, at::kLong).contiguous();
    out.append(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * sizeof(int64_t));
  }
  golf::PluginContext& ctx_;
  golf::gpt::GptShape shape_{};
  std::unique_ptr<golf::gpt::GptModel> model_;
  golf::LinearHook* hook_ = nullptr;
  bool training_ = true;
  std::string train_, logits_;
};

class SpyCalibrating final : public golf::Quantizer {
 public:
  explicit SpyCalibrating(golf::PluginContext& ctx) {
    request_.batches = ctx.config().get_int("batches");
    request_.batch_tokens = 256;
    request_.source = ctx.config().get_string("source") == "generated" ? golf::CalibrationSource::kGenerated
                                                                      : golf::CalibrationSource::kTrain;
  }
  std::string format() const override { return "spy_fp32_v1"; }
  golf::CalibrationRequest calibration() const override { return request_; }
  std::vector<golf::QuantizedTensor> quantize(const std::vector<golf::Param>& params, const golf::Calibration&) override {
    std::vector<golf::QuantizedTensor> out;
    for (const golf::Param& p : params)
      out.push_back({p.name, "fp32", p.tensor.sizes().vec(), p.tensor.scalar_type(),
                     {{"data", p.tensor.detach().to(at::kCPU, at::kFloat).clone()}}, {32, "none"}});
    return out;
  }
  at::Tensor dequantize(const golf::QuantizedTensor& q) override { return q.parts.at(0).second.to(q.dtype); }
  at::Tensor fake_quantize(const golf::Param&, const at::Tensor& w) override { return w.detach().clone(); }

 private:
  golf::CalibrationRequest request_;
};

const golf_config_key kGptConfig[] = {{"vocab_size", GOLF_TYPE_INT, "512", "vocabulary"},
                                      {"num_layers", GOLF_TYPE_INT, "2", "blocks"},
                                      {"model_dim", GOLF_TYPE_INT, "64", "width"},
                                      {"num_heads", GOLF_TYPE_INT, "4", "query heads"},
                                      {"num_kv_heads", GOLF_TYPE_INT, "2", "key/value heads"}};
const golf_config_key kQuantConfig[] = {{"batches", GOLF_TYPE_INT, "2", "calibration batches"},
                                        {"source", GOLF_TYPE_STRING, "\"train\"", "\"train\" or \"generated\""}};

}  // namespace

GOLF_PLUGINS(golf::plugin<SpyGpt>("spy-gpt", "0.0.1", "test: gpt recording its training inputs", kGptConfig),
             golf::plugin<SpyCalibrating>("spy-calibrating", "0.0.1", "test: fp32, calibrated", kQuantConfig))
