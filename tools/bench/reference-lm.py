# The reference framework for `npm run bench -- lm --reference`: PyTorch on ONE thread, the bench's shapes (GPT-2
# blocks, pre-LayerNorm, tied head, tanh GELU, AdamW; d 128, 4 heads, MLP 512, ctx 128, batch 16, vocab 4098).
# The bench drives it over stdin so that its steps alternate with dpkd's in time ("train 3" -> the median
# seconds of 3 steps, as one JSON line), and the ratio is measured side by side on a machine whose speed drifts.
# PyTorch comes from Debian (`apt-get install python3-torch`, for Debian's /usr/bin/python3, which the bench runs);
# nothing here is downloaded. Debian's torch calls the system BLAS: install an optimised one too
# (`apt-get install libopenblas0-pthread`), or matmuls run on the netlib reference BLAS, several times slower.
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(1)
LAYERS = int(sys.argv[1])
V, T, B, D, H, MLP = 4098, 128, 16, 128, 4, 512


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out = nn.Linear(D, MLP), nn.Linear(MLP, D)

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        heads = lambda t: t.view(B, T, H, D // H).transpose(1, 2)
        att = (heads(q) @ heads(k).transpose(-2, -1)) / math.sqrt(D // H)
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        x = x + self.proj((att @ heads(v)).transpose(1, 2).reshape(B, T, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.lnf = nn.LayerNorm(D)

    def loss(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # the tied head
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(1, V, (B, T))


def train():
    opt.zero_grad(set_to_none=True)
    model.loss(ids).backward()
    opt.step()


def forward():
    with torch.no_grad():
        model.loss(ids)


modes = {"train": train, "forward": forward}
for f in modes.values():
    f()  # warm-up
blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "other"  # the BLAS actually loaded
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas}), flush=True)
for line in sys.stdin:
    mode, count = line.split()
    seconds = []
    for _ in range(int(count)):
        start = time.perf_counter()
        modes[mode]()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": sorted(seconds)[len(seconds) // 2]}), flush=True)
