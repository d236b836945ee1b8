"""tests/distributed/distributed_test.py: golf-host under torchrun on the CPU (Gloo), against one process.

Two processes training a global batch give the weights and val_bpb of one process training the same
global batch in twice the micro-batches; a rank that is killed, or SIGINT to torchrun, ends every rank
with the run directory kept and its status; bad input (a world size that does not divide the batch,
nccl without CUDA, ranks that run different pipelines or plugin library files) stops every rank with a message and exit 2.
Usage: distributed_test.py GOLF_HOST SOURCE_DIR (run with the Python whose bin/ holds torchrun).
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "support"))
from golf_test import HOST, check, golf, report, write_corpus  # noqa: E402

TORCHRUN = pathlib.Path(sys.executable).parent / "torchrun"
if not TORCHRUN.exists():
    print(f"SKIPPED: no torchrun beside {sys.executable} (scripts/install-torch.sh installs it)")
    sys.exit(77)

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def torchrun(n, *args, command=None, env=None, **popen):
    cmd = [str(TORCHRUN), "--standalone", f"--nproc_per_node={n}", "--no-python", *(command or [HOST]), *map(str, args)]
    # TMPDIR: the other ranks' private folders, which a killed rank leaves behind, go with the test's.
    env = {**(env or os.environ), "TMPDIR": str(TMP)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **popen)


def finish(p, timeout=600):
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


PIPELINE = """[run]
name = "dist"
train_seconds = 0.0
eval_seconds = 0.0
collective_timeout = 20.0
code_files = "tiny.toml"
[data]
corpus = "corpus"
val_docs = 4
max_val_tokens = 8192
[train]
seq_len = 64
batch_tokens = 2048
iterations = 1
warmdown_iters = 3
log_every = 1
[tokenizer]
plugin = "sentencepiece"
vocab_size = 512
[architecture]
plugin = "gpt"
vocab_size = 512
num_layers = 2
model_dim = 64
num_heads = 4
num_kv_heads = 2
[optimizer]
plugin = "muon"
[averaging]
plugin = "ema"
decay = 0.9
[quantizer]
plugin = "int8"
[compressor]
plugin = "zstd"
[evaluator]
plugin = "bpb"
"""

with tempfile.TemporaryDirectory(prefix="golf-dist-") as tmp:
    tmp = TMP = pathlib.Path(tmp)
    write_corpus(tmp / "corpus")
    (tmp / "tiny.toml").write_text(PIPELINE)
    golf("run", tmp / "tiny.toml", "--run-dir", tmp / "made")  # shards and a tokenizer the runs below share
    made = tmp / "made"
    (tmp / "shards.toml").write_text(
        'extends = "tiny.toml"\n[data]\ncorpus = ""\nval_docs = 0\n'
        f'train_shards = "{made}/data/corpus_train_*.bin"\nval_shards = "{made}/data/corpus_val_*.bin"\n'
        f'[tokenizer]\nmodel = "{made}/tokenizer/tokenizer.model"\n'
        "[train]\niterations = 8\nmicro_batch_tokens = 1024\nval_every = 4\nwarmup_steps = 1\n")

    # One process, two micro-batches a step; two processes, one each: the same global batches.
    golf("run", tmp / "shards.toml", "--run-dir", tmp / "one")
    code, out = finish(torchrun(2, "run", tmp / "shards.toml", "--run-dir", tmp / "two"))
    check(code == 0, f"torchrun --nproc_per_node=2 golf-host run exits 0 (got {code})" + ("" if code == 0 else "\n" + out[-3000:]))
    check(not list(tmp.glob("golf-rank*")), "rank 1's private folder is gone when it ends")
    if code == 0:
        one = json.loads((tmp / "one" / "summary.json").read_text())
        two = json.loads((tmp / "two" / "summary.json").read_text())
        check(two.get("world_size") == 2 and two["status"] == "ok", "the 2-process summary says world_size 2, status ok")
        check(one["steps"] == two["steps"], f"the same steps: {one['steps']} and {two['steps']}")
        for key in ("val_bpb_prequant", "val_bpb"):
            check(abs(one[key] - two[key]) < 1e-6, f"{key}: 1 process {one[key]:.9f}, 2 processes {two[key]:.9f} (within 1e-6)")
        check(abs(one["train_loss"] - two["train_loss"]) < 1e-5,
              f"train_loss (mean over ranks): {one['train_loss']:.7f} and {two['train_loss']:.7f}")
        golf("export", tmp / "one", "--format", "safetensors", tmp / "one.safetensors")
        golf("export", tmp / "two", "--format", "safetensors", tmp / "two.safetensors")
        a, b = load_file(str(tmp / "one.safetensors")), load_file(str(tmp / "two.safetensors"))
        worst = max((x.float() - b[k].float()).abs().max().item() / max(x.float().abs().max().item(), 1e-12)
                    for k, x in a.items())
        check(a.keys() == b.keys() and worst < 1e-4,
              f"the trained weights agree to float32 tolerance (largest difference {worst:.2e} of a tensor's largest value)")
        check(not list((tmp / "two").glob("rank-*.log")), "no rank-N.log when every rank succeeds")
        check(sorted(p.name for p in (tmp / "two").iterdir()) == sorted(p.name for p in (tmp / "one").iterdir()),
              "rank 0 alone writes the run directory, the files of one process's run")

    # Bad input: every rank stops with the message and exit 2; nothing is trained.
    def bad(n, args, needle, what, command=None):
        code, out = finish(torchrun(n, "run", tmp / "shards.toml", *args, command=command), timeout=300)
        count = out.count(needle)
        check(code != 0 and count >= n, f"{what}: torchrun exits {code}, the message on {count} of {n} ranks"
              + ("" if code != 0 and count >= n else "\n" + out[-3000:]))

    bad(3, ["--run-dir", tmp / "three"], "batch_tokens", "WORLD_SIZE 3 does not divide batch_tokens 2048 in sequences of 64")
    check(not (tmp / "three").exists(), "no run directory after bad input")
    bad(2, ["--run-dir", tmp / "nccl", "--set", 'run.backend="nccl"'], "[run] backend", "nccl on the CPU")
    (tmp / "differ.sh").write_text('#!/bin/sh\nexec "$@" --set train.iterations=$((8 + RANK))\n')
    (tmp / "differ.sh").chmod(0o755)
    bad(2, ["--run-dir", tmp / "differ"], "different pipeline", "ranks running different pipelines",
        command=[str(tmp / "differ.sh"), HOST])
    # Rank 1 loads its compressor from another copy of the library, one byte longer: same name and version.
    lib = pathlib.Path(HOST).resolve().parent.parent / "lib" / "golf" / "plugins" / "libgolf-zstd.so"
    (tmp / "other-plugins").mkdir()
    (tmp / "other-plugins" / lib.name).write_bytes(lib.read_bytes() + b"\0")
    (tmp / "other.sh").write_text(f'#!/bin/sh\n[ "$RANK" = 1 ] && exec "$@" --plugin-path "{tmp}/other-plugins"\nexec "$@"\n')
    (tmp / "other.sh").chmod(0o755)
    bad(2, ["--run-dir", tmp / "other"], "different set of plugin libraries", "ranks loading different plugin library files",
        command=[str(tmp / "other.sh"), HOST])

    # A rank killed mid-training, and SIGINT to torchrun: every rank ends within seconds, the run
    # directory stays with a status.
    (tmp / "pid.sh").write_text('#!/bin/sh\necho $$ > "$PID_DIR/rank$RANK.pid"\nexec "$@"\n')
    (tmp / "pid.sh").chmod(0o755)

    def long_run(name):
        p = torchrun(2, "run", tmp / "shards.toml", "--run-dir", tmp / name, "--set", "train.iterations=100000",
                     "--set", "train.val_every=0", command=[str(tmp / "pid.sh"), HOST],
                     env={**os.environ, "PID_DIR": str(tmp)}, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and "step 3 " not in ((tmp / name / "log.txt").read_text()
                                                            if (tmp / name / "log.txt").exists() else ""):
            time.sleep(0.2)
        return p

    p = long_run("killed")
    os.kill(int((tmp / "rank1.pid").read_text()), signal.SIGKILL)
    t0 = time.time()
    code, out = finish(p, timeout=120)
    took = time.time() - t0
    s = json.loads((tmp / "killed" / "summary.json").read_text()) if (tmp / "killed" / "summary.json").exists() else {}
    check(code != 0 and took < 60 and s.get("status") == "failed",
          f"rank 1 killed: torchrun exits {code} after {took:.1f} s, rank 0's summary says {s.get('status')}: {s.get('error', '')[:200]}"
          + ("" if s.get("status") == "failed" else "\n" + out[-3000:]))

    p = long_run("sigint")
    os.kill(p.pid, signal.SIGINT)
    t0 = time.time()
    code, out = finish(p, timeout=120)
    took = time.time() - t0
    s = json.loads((tmp / "sigint" / "summary.json").read_text()) if (tmp / "sigint" / "summary.json").exists() else {}
    check(code != 0 and took < 60 and s.get("status") == "interrupted" and (tmp / "sigint" / "model.pt").exists(),
          f"SIGINT to torchrun: exits {code} after {took:.1f} s, summary says {s.get('status')}, trained weights kept"
          + ("" if s.get("status") == "interrupted" else "\n" + out[-3000:]))

sys.exit(report("distributed"))
