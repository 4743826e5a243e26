"""Training options added for Net3/Net4 (flips, input dropout) and their checkpoints."""

import numpy as np
import pytest
import torch

from augsnn.golden import ann


def _data(n=64):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n, 1, 28, 28)).astype(np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def test_flip_is_seeded_and_changes_training():
    x, y = _data()

    def weights(flip, seed=0):
        net = ann.build_net("784-20-10", (1, 28, 28))
        ann.train(net, x, y, epochs=1, seed=seed, batch_size=16, max_shift=0, flip=flip, log=None)
        return torch.cat([p.detach().flatten() for p in net.parameters()])
    a, b = weights(True), weights(True)
    assert torch.equal(a, b)
    assert not torch.equal(a, weights(False))


def test_input_dropout_net_round_trips_and_converts(tmp_path):
    net = ann.build_net("784-20-10", (1, 28, 28), dropout=0.5, in_dropout=0.2)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Flatten", "Dropout", "Linear", "LeakyReLU", "Dropout", "Linear"]
    assert [layer["type"] for layer in ann.to_float_layers(net)] == \
        ["flatten", "dense", "leaky_relu", "dense"]
    path = tmp_path / "c.pt"
    ann.save_checkpoint(path, net, arch="784-20-10", input_shape=(1, 28, 28), act="leaky",
                        alpha=0.125, dropout=0.5, in_dropout=0.2, meta={})
    back, obj = ann.load_checkpoint(path)
    assert obj["in_dropout"] == 0.2
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert "2.weight" in back.state_dict()  # the input dropout shifts the layer indices


def _trained(**kw):
    x, y = _data()
    net = ann.build_net("784-20-10", (1, 28, 28))
    ann.train(net, x, y, epochs=2, seed=0, batch_size=16, max_shift=0, log=None, **kw)
    return net, torch.cat([p.detach().flatten() for p in net.parameters()])


def test_label_smoothing_and_weight_decay_change_training():
    _, base = _trained()
    _, smooth = _trained(label_smoothing=0.1)
    _, decay = _trained(weight_decay=0.5)
    assert not torch.equal(base, smooth)
    assert not torch.equal(base, decay)
    # decoupled decay shrinks the weights
    assert decay.norm() < base.norm()


def test_ema_keeps_the_average_of_the_steps():
    """With ema, the net ends holding the running average, which equals a hand-kept one."""
    x, y = _data()
    net = ann.build_net("784-20-10", (1, 28, 28))
    ann.train(net, x, y, epochs=1, seed=0, batch_size=16, max_shift=0, log=None, ema=0.5)
    got = torch.cat([p.detach().flatten() for p in net.parameters()])
    # replay: the same seeded run without ema, averaging after each of its 4 steps
    ref = ann.build_net("784-20-10", (1, 28, 28))
    torch.manual_seed(0)
    for m in ref.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    avg = torch.cat([p.detach().flatten() for p in ref.parameters()])
    seen = []

    class Hook(torch.optim.Adam):
        def step(self, closure=None):
            out = super().step(closure)
            seen.append(torch.cat([p.detach().flatten() for p in ref.parameters()]))
            return out
    orig = torch.optim.Adam
    torch.optim.Adam = Hook
    try:
        ann.train(ref, x, y, epochs=1, seed=0, batch_size=16, max_shift=0, log=None)
    finally:
        torch.optim.Adam = orig
    assert len(seen) == 4
    for w in seen:
        avg = 0.5 * avg + 0.5 * w
    assert torch.allclose(got, avg, atol=1e-6)
    assert not torch.allclose(got, seen[-1])


def test_bad_training_options_are_refused():
    for kw, text in (({"label_smoothing": 1.0}, "label_smoothing"), ({"ema": -0.1}, "ema"),
                     ({"weight_decay": -1.0}, "weight_decay")):
        with pytest.raises(ValueError, match=text):
            _trained(**kw)


def test_zoo_train_command_spells_out_the_new_options():
    from augsnn.repro.zoo import train_command
    ck = {"meta": {"seed": 0, "epochs": 100, "dropout": 0.5, "shift": 0, "lr": 1e-3,
                   "flip": True, "label_smoothing": 0.1, "weight_decay": 0.05, "ema": 0.9995,
                   "threads": 1}}
    assert train_command("net3", ck) == (
        "augsnn train net3 --seed 0 --epochs 100 --dropout 0.5 --shift 0 --lr 0.001 --flip "
        "--label-smoothing 0.1 --weight-decay 0.05 --ema 0.9995 --threads 1 -o net3.pt")
    ck["meta"].update(label_smoothing=0.0, weight_decay=0.0, ema=0.0, threads=2)
    assert train_command("net3", ck).endswith("--lr 0.001 --flip -o net3.pt")


def test_train_net_refuses_a_bad_recipe_before_loading_data(tmp_path):
    for kw, text in (({"shift": -1}, r"^shift must be >= 0, not -1$"),
                     ({"epochs": 0}, r"^epochs must be >= 1, not 0$"),
                     ({"images": 0}, r"^images must be >= 1, not 0$")):
        with pytest.raises(ValueError, match=text):
            ann.train_net("784-10", tmp_path / "c.pt", threads=None, **kw)
    with pytest.raises(FileNotFoundError, match=r"^output folder .*no does not exist$"):
        ann.train_net("784-10", tmp_path / "no" / "c.pt", threads=None)
    assert not list(tmp_path.iterdir())


@pytest.mark.mnist
def test_train_net_is_the_recipe(tmp_path):
    """train_net: the net's recipe (or the general defaults) through ann.train, checkpointed."""
    from augsnn.golden.datasets import load_dataset
    x, y = load_dataset("mnist", "train")
    tx, ty = load_dataset("mnist", "test")
    rec = ann.train_net("784-10", tmp_path / "t.pt", epochs=1, images=256, threads=None,
                        test_each_epoch=False, command="augsnn train 784-10", log=None)
    ref = ann.build_net("784-10", (1, 28, 28))
    ann.train(ref, x[:256], y[:256], epochs=1, seed=0, max_shift=2, max_lr=2e-3, log=None)
    net, ck = ann.load_checkpoint(tmp_path / "t.pt")
    for a, b in zip(net.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    assert ck["meta"] == rec and ck["arch"] == "784-10" and ck["act"] == "leaky"
    assert rec["test_accuracy"] == ann.evaluate(ref, tx, ty)
    assert {k: rec[k] for k in ("dataset", "seed", "epochs", "shift", "lr", "flip", "dropout",
                                "ema", "train_images", "command")} == {
        "dataset": "mnist", "seed": 0, "epochs": 1, "shift": 2, "lr": 2e-3, "flip": False,
        "dropout": 0.0, "ema": 0.0, "train_images": 256, "command": "augsnn train 784-10"}
    assert [set(h) for h in rec["history"]] == [{"epoch", "loss", "seconds"}]
    # a named net trains with its own recipe: tiny has no pixel shifts
    rec = ann.train_net("tiny", tmp_path / "tiny.pt", epochs=1, images=128, threads=None,
                        log=None)
    assert rec["shift"] == 0 and "test_acc" in rec["history"][0]
    assert not list(tmp_path.glob("*.tmp"))
