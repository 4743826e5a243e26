"""Training options added for Net3/Net4 (flips, input dropout) and their checkpoints."""

import numpy as np
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
