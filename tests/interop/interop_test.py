"""tests/interop/interop_test.py: golf's weights in real PyTorch, and PyTorch's weights in golf.

Trains a tiny model with golf-host, exports it as torch and safetensors, loads both in PyTorch, scores
the export with an independent PyTorch model (gpt_reference.py) against golf's val_bpb_prequant,
writes weights back as the reference and safetensors do, imports them, and checks the round trip bit
for bit; then the bad inputs. Usage: interop_test.py GOLF_HOST SOURCE_DIR
"""
import collections
import json
import pathlib
import re
import sys
import tempfile
import tomllib

import numpy as np
import sentencepiece
import torch
from safetensors.torch import load_file, save_file

sys.path[:0] = [str(pathlib.Path(__file__).parent), str(pathlib.Path(__file__).parent.parent / "support")]
from golf_test import check, golf, report, write_corpus  # noqa: E402
from gpt_reference import GPT, read_shard, val_bpb  # noqa: E402


PIPELINE = """[run]
name = "interop"
train_seconds = 0.0
eval_seconds = 0.0
code_files = "tiny.toml"
[data]
corpus = "corpus"
val_docs = 4
[train]
seq_len = 64
batch_tokens = 2048
iterations = 30
warmdown_iters = 10
[tokenizer]
plugin = "sentencepiece"
vocab_size = VOCAB
[architecture]
plugin = "gpt"
vocab_size = VOCAB
num_layers = 3
model_dim = 64
num_heads = 4
num_kv_heads = 2
[optimizer]
plugin = "muon"
[quantizer]
plugin = "int8"
[compressor]
plugin = "zstd"
[evaluator]
plugin = "bpb"
"""

with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    write_corpus(tmp / "corpus")
    (tmp / "tiny.toml").write_text(PIPELINE.replace("VOCAB", "512"))
    (tmp / "other.toml").write_text(PIPELINE.replace("VOCAB", "400"))
    run = tmp / "run"
    golf("run", tmp / "tiny.toml", "--run-dir", run)
    summary = json.loads((run / "summary.json").read_text())

    # golf -> PyTorch: both formats load with PyTorch's own readers (torch.load's default weights_only).
    golf("export", run, "--format", "torch", tmp / "w.pt")
    golf("export", run, "--format", "safetensors", tmp / "w.safetensors")
    a, b = torch.load(tmp / "w.pt"), load_file(tmp / "w.safetensors")
    check(list(a) == list(b) and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a),
          "torch and safetensors exports hold the same tensors")

    # The export scores in an independent PyTorch model as golf scored it before quantization.
    cfg = tomllib.loads((run / "pipeline.toml").read_text())
    arch = cfg["architecture"]
    model = GPT(arch["vocab_size"], arch["num_layers"], arch["model_dim"], arch["num_heads"], arch["num_kv_heads"])
    model.load_state_dict(a, strict=True)
    model.eval()
    sp = sentencepiece.SentencePieceProcessor(model_file=str(run / "tokenizer/tokenizer.model"))
    tokens = np.concatenate([read_shard(p) for p in sorted((run / "data").glob("corpus_val_*.bin"))])
    loss, bpb, n, nbytes = val_bpb(model, tokens, cfg["train"]["seq_len"], sp)
    check(n == summary["val_tokens"] and nbytes == summary["val_bytes"],
          f"PyTorch counts {n} targets and {nbytes} bytes, golf {summary['val_tokens']} and {summary['val_bytes']}")
    check(abs(bpb - summary["val_bpb_prequant"]) < 1e-5,
          f"PyTorch val_bpb {bpb:.8f} vs golf val_bpb_prequant {summary['val_bpb_prequant']:.8f} (within 1e-5)")

    # PyTorch -> golf: a plain dict and safetensors import and export back bit for bit; the reference's
    # torch.save(model.state_dict()) (an OrderedDict) is refused with the command that converts it.
    torch.save(model.state_dict(), tmp / "reference.pt")
    torch.save(dict(model.state_dict()), tmp / "plain.pt")
    save_file(dict(model.state_dict()), tmp / "py.safetensors")
    for name in ["reference.pt", "plain.pt", "py.safetensors"]:
        if name == "reference.pt":  # LibTorch's unpickler cannot read an OrderedDict: a clear refusal
            out = golf("import", tmp / name, "--pipeline", tmp / "tiny.toml", tmp / "imp-ref", expect=2)
            check("OrderedDict" in out and "reference.pt" in out, f"the OrderedDict LibTorch cannot read is named\n{out}")
            continue
        golf("import", tmp / name, "--pipeline", tmp / "tiny.toml", tmp / f"imp-{name}")
        golf("export", tmp / f"imp-{name}", "--format", "torch", tmp / f"back-{name}.pt")
        back = torch.load(tmp / f"back-{name}.pt")
        check(list(back) == list(a) and all(torch.equal(back[k], a[k]) and back[k].dtype == a[k].dtype for k in a),
              f"{name}: import then export preserves every tensor bit for bit")
        out = golf("score", tmp / "tiny.toml", "--weights", tmp / f"imp-{name}")
        scored = re.search(r"^val_bpb +([0-9.]+)$", out, re.M)
        # Same weights, same tokens: equal up to float32 summation order (threads, memory layout).
        check(scored and abs(float(scored.group(1)) - summary["val_bpb_prequant"]) < 1e-7,
              f"{name}: golf-host score of the import matches the run's val_bpb_prequant within 1e-7\n{out}")

    # Bad input: every offending tensor named; a truncated file named; shards of another tokenizer refused.
    bad = collections.OrderedDict(a)
    del bad["skip_weights"]
    bad["blocks.0.attn.c_q.weight"] = torch.zeros(3, 3)
    bad["extra.bias"] = torch.zeros(2)
    torch.save(dict(bad), tmp / "bad.pt")
    out = golf("import", tmp / "bad.pt", "--pipeline", tmp / "tiny.toml", tmp / "imp-bad", expect=2)
    check(all(s in out for s in ["missing    skip_weights", "mis-shaped blocks.0.attn.c_q.weight [3, 3]",
                                 "unexpected extra.bias"]) and not (tmp / "imp-bad").exists(),
          f"a mismatched state_dict names all three tensors and leaves no run directory\n{out}")
    data = (tmp / "w.safetensors").read_bytes()
    (tmp / "cut.safetensors").write_bytes(data[: len(data) // 2])
    out = golf("import", tmp / "cut.safetensors", "--pipeline", tmp / "tiny.toml", tmp / "imp-cut", expect=2)
    check("cut.safetensors" in out and "data_offsets" in out, f"a truncated safetensors file is named\n{out}")
    golf("run", tmp / "other.toml", "--run-dir", tmp / "other", "--set", "train.iterations=1")
    out = golf("score", tmp / "tiny.toml", "--weights", run, "--val", tmp / "other/data/corpus_val_*.bin", expect=2)
    check("were made with the tokenizer" in out, f"shards of another tokenizer are refused\n{out}")

sys.exit(report("interop"))
