"""tests/interop/gpt_reference.py: the Parameter Golf baseline GPT and its BPB in plain PyTorch.

Written for golf's tests from the reference's documented behaviour (shared reference §3, §4.2), with
the reference's parameter names, so that a state_dict golf exports loads with strict=True and scores
independently of golf's C++ code. float32 on the CPU.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads, rope_base, qk_gain):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.full((heads,), qk_gain))
        self.rope_base = rope_base

    def rope(self, x):
        t, d = x.size(-2), x.size(-1)
        inv = 1.0 / self.rope_base ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
        ang = torch.outer(torch.arange(t, dtype=torch.float32), inv)
        cos, sin = ang.cos()[None, None], ang.sin()[None, None]
        a, b = x[..., : d // 2], x[..., d // 2 :]
        return torch.cat((a * cos + b * sin, -a * sin + b * cos), dim=-1)

    def forward(self, x):
        bsz, t, dim = x.shape
        q = self.c_q(x).view(bsz, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.c_k(x).view(bsz, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.c_v(x).view(bsz, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = self.rope(F.rms_norm(q, (self.head_dim,))) * self.q_gain[None, :, None, None]
        k = self.rope(F.rms_norm(k, (self.head_dim,)))
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(bsz, t, dim))


class Mlp(nn.Module):
    def __init__(self, dim, mult):
        super().__init__()
        self.fc = nn.Linear(dim, mult * dim, bias=False)
        self.proj = nn.Linear(mult * dim, dim, bias=False)

    def forward(self, x):
        return self.proj(torch.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, dim, heads, kv_heads, mult, rope_base, qk_gain):
        super().__init__()
        self.attn = Attention(dim, heads, kv_heads, rope_base, qk_gain)
        self.mlp = Mlp(dim, mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))

    def forward(self, x, x0):
        x = self.resid_mix[0] * x + self.resid_mix[1] * x0
        x = x + self.attn_scale * self.attn(F.rms_norm(x, (x.size(-1),)))
        return x + self.mlp_scale * self.mlp(F.rms_norm(x, (x.size(-1),)))


class GPT(nn.Module):
    def __init__(self, vocab_size, num_layers, model_dim, num_heads, num_kv_heads, mlp_mult=2,
                 tie_embeddings=True, logit_softcap=30.0, rope_base=10000.0, qk_gain_init=1.5):
        super().__init__()
        self.softcap, self.tied = logit_softcap, tie_embeddings
        self.tok_emb = nn.Embedding(vocab_size, model_dim)
        self.encoders = num_layers // 2
        self.skip_weights = nn.Parameter(torch.ones(min(self.encoders, num_layers - self.encoders), model_dim))
        self.blocks = nn.ModuleList(Block(model_dim, num_heads, num_kv_heads, mlp_mult, rope_base, qk_gain_init)
                                    for _ in range(num_layers))
        self.lm_head = None if tie_embeddings else nn.Linear(model_dim, vocab_size, bias=False)

    def forward(self, ids, targets):
        """Per-token NLL in nats, [B, T]."""
        x = F.rms_norm(self.tok_emb(ids), (self.tok_emb.embedding_dim,))
        x0, skips = x, []
        for i in range(self.encoders):
            x = self.blocks[i](x, x0)
            skips.append(x)
        for i in range(len(self.blocks) - self.encoders):
            if skips:
                x = x + self.skip_weights[i] * skips.pop()
            x = self.blocks[self.encoders + i](x, x0)
        x = F.rms_norm(x, (x.size(-1),))
        logits = F.linear(x, self.tok_emb.weight) if self.tied else self.lm_head(x)
        logits = self.softcap * torch.tanh(logits / self.softcap)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)


def read_shard(path):
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[0] == 20240520 and header[1] == 1, f"{path}: not a shard"
    return np.fromfile(path, dtype="<u2", count=int(header[2]), offset=1024).astype(np.int64)


def byte_tables(sp, vocab):
    """Reference §3: bytes per target = base[y] + (leading_space[y] and not boundary[x])."""
    base, space, boundary = np.zeros(vocab, np.int64), np.zeros(vocab, bool), np.ones(vocab, bool)
    for i in range(sp.vocab_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\u2581"):
            space[i], piece = True, piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return base, space, boundary


@torch.no_grad()
def val_bpb(model, tokens, seq_len, sp, batch_seqs=16):
    """Non-overlapping windows of seq_len over tokens[:n*seq_len+1]; float64 sums (reference §3, §4.7)."""
    base, space, boundary = byte_tables(sp, model.tok_emb.num_embeddings)
    n = (len(tokens) - 1) // seq_len * seq_len
    x_all, y_all = tokens[:n], tokens[1 : n + 1]
    loss = 0.0
    for s in range(0, n, batch_seqs * seq_len):
        x = torch.from_numpy(x_all[s : s + batch_seqs * seq_len]).view(-1, seq_len)
        y = torch.from_numpy(y_all[s : s + batch_seqs * seq_len]).view(-1, seq_len)
        loss += model(x, y).double().sum().item()
    nbytes = int((base[y_all] + (space[y_all] & ~boundary[x_all])).sum())
    return loss / n, loss / n / math.log(2) * n / nbytes, n, nbytes
