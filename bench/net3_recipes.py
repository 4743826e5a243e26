"""Sweep of Net3 (784-6400-10, LeakyReLU 0.125, no bias) training recipes.

Mirrors ``golden/ann.train`` (Adam/AdamW, one-cycle LR, batch 128, random flips, label
smoothing, weight EMA) but keeps the data on the chosen device, so a GPU runs the whole grid
in minutes. It needs only NumPy and PyTorch (no augsnn install), so it can run on a bare GPU
machine. Used to pick Net3's recipe in ``golden/ann.NETS``; results: docs/net3-recipes.md.

    python bench/net3_recipes.py CONFIGS_JSON OUT.jsonl   # FMNIST_DIR=... to override the data

CONFIGS_JSON is a list of dicts: epochs, do (dropout), lr, ls (label smoothing), wd (AdamW
weight decay), ema, in_do, bs, seed, hidden. One JSON line per config goes to OUT.jsonl.
The checkpoints in the zoo are trained by ``augsnn train`` on the CPU, not by this script.
"""
import gzip, json, math, sys, time, os
import numpy as np, torch, torch.nn as nn

def idx(p):
    raw = gzip.open(p).read(); nd = raw[3]
    shape = [int.from_bytes(raw[4+4*i:8+4*i], "big") for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4+4*nd).reshape(shape)

D = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
tx, ty = idx(f"{D}/train-images-idx3-ubyte.gz"), idx(f"{D}/train-labels-idx1-ubyte.gz")
vx, vy = idx(f"{D}/t10k-images-idx3-ubyte.gz"), idx(f"{D}/t10k-labels-idx1-ubyte.gz")

def run(cfg):
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    seed = cfg.get("seed", 0); epochs = cfg["epochs"]; bs = cfg.get("bs", 128)
    torch.manual_seed(seed); gen = torch.Generator(device="cpu").manual_seed(seed)
    mods = [nn.Flatten()]
    if cfg.get("in_do"): mods.append(nn.Dropout(cfg["in_do"]))
    mods += [nn.Linear(784, cfg.get("hidden", 6400), bias=False), nn.LeakyReLU(0.125),
             nn.Dropout(cfg.get("do", 0.5)), nn.Linear(cfg.get("hidden", 6400), 10, bias=False)]
    net = nn.Sequential(*mods).to(dev)
    wd = cfg.get("wd", 0.0); lr = cfg.get("lr", 1e-3)
    opt = (torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd) if wd
           else torch.optim.Adam(net.parameters(), lr=lr))
    steps = epochs * math.ceil(len(tx) / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    X = torch.from_numpy(tx.copy()).to(dev).float().div_(255).unsqueeze(1)
    Y = torch.from_numpy(ty.astype(np.int64)).to(dev)
    VX = torch.from_numpy(vx.copy()).to(dev).float().div_(255).unsqueeze(1)
    VY = torch.from_numpy(vy.astype(np.int64)).to(dev)
    ema = cfg.get("ema", 0.0)
    avg = [p.detach().clone() for p in net.parameters()] if ema else None
    ls = cfg.get("ls", 0.0); hist = []
    for ep in range(epochs):
        net.train(); perm = torch.randperm(len(tx), generator=gen).to(dev)
        for s in range(0, len(tx), bs):
            i = perm[s:s+bs]; x = X[i]
            if cfg.get("flip", True):
                m = (torch.rand(len(i), generator=gen) < 0.5).to(dev)
                x = torch.where(m[:, None, None, None], x.flip(-1), x)
            loss = nn.functional.cross_entropy(net(x), Y[i], label_smoothing=ls)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            if avg is not None:
                with torch.no_grad():
                    for a, p in zip(avg, net.parameters()): a.mul_(ema).add_(p, alpha=1-ema)
        if avg is not None or ep == epochs - 1 or ep % 10 == 9:
            net.eval()
            with torch.no_grad():
                live = (net(VX).argmax(1) == VY).float().mean().item()
                ea = None
                if avg is not None:
                    saved = [p.detach().clone() for p in net.parameters()]
                    for a, p in zip(avg, net.parameters()): p.copy_(a)
                    ea = (net(VX).argmax(1) == VY).float().mean().item()
                    for a, p in zip(saved, net.parameters()): p.copy_(a)
            hist.append((ep+1, live, ea))
    return hist

if __name__ == "__main__":
    cfgs = json.loads(sys.argv[1]); out = sys.argv[2]
    for cfg in cfgs:
        t0 = time.time(); h = run(cfg)
        rec = {"cfg": cfg, "final_live": h[-1][1], "final_ema": h[-1][2], "hist": h,
               "s": round(time.time()-t0, 1)}
        with open(out, "a") as f: f.write(json.dumps(rec) + "\n")
        print(json.dumps({k: rec[k] for k in ("cfg", "final_live", "final_ema", "s")}), flush=True)
