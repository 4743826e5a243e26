"""``augsnn export`` (a model file as NIR) and the ONNX / NIR branches of ``augsnn convert``.

Imports nothing heavy at module level (onnx, nir and torch are loaded when used).
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="write a model file as a NIR graph (docs/frontends.md)")
    p.add_argument("model", help="model file (.npz) or zoo name")
    p.add_argument("-o", "--output", required=True, help="NIR file to write (.nir, HDF5)")
    p.set_defaults(func=cmd_export, outputs=("output",), inputs=("model",))


def cmd_export(args) -> int:
    from augsnn.golden.modelfile import load

    from .nir_export import write_nir
    model = load(args.model)
    notes = write_nir(model, args.output)
    print(f"wrote {args.output}: {model.name}, {len(model.weighted)} weighted layers as NIR "
          "Conv2d/Linear + IF nodes; the augsnn parameters are in node metadata (augsnn.*)")
    print("a NIR reader that ignores the metadata computes differently:")
    for line in notes:
        print(f"  - {line}")
    return 0


def _dataset_images(dataset):
    from augsnn.golden import datasets
    return datasets.load_dataset(dataset, "train")[0], datasets.load_dataset(dataset, "test")


def convert_onnx(args, out: Path, command: str) -> int:
    """``augsnn convert model.onnx``: the float layers of the ONNX graph, converted as usual."""
    from augsnn.golden import ann, modelfile

    from .onnx_import import onnx_float_layers
    if args.dataset is None:
        raise ValueError("--dataset is needed for an ONNX file")
    train_x, test = _dataset_images(args.dataset)
    layers, input_shape = onnx_float_layers(args.checkpoint, train_x.shape[1:])
    if tuple(input_shape) != tuple(train_x.shape[1:]):
        raise ValueError(f"{args.checkpoint}: input {tuple(input_shape)} does not match the "
                         f"{args.dataset} images {tuple(train_x.shape[1:])}")
    model = ann.convert_float_layers(
        layers, args.method, dataset=args.dataset, name=args.name or out.stem, train_x=train_x,
        test=test, weight_bits=args.weight_bits, coef_bits=args.coef_bits,
        pot_bits=args.pot_bits, pow2_theta=args.pow2_theta, output=args.output_mode,
        meta={"checkpoint": str(args.checkpoint), "command": command, "source": "onnx"})
    modelfile.save(model, out)
    print(model.summary())
    print(f"ANN accuracy {model.meta['ann_accuracy'] * 100:.2f}% on {args.dataset} test; "
          f"wrote {out}")
    return 0


def convert_nir(args, out: Path, command: str) -> int:
    """``augsnn convert model.nir``: an IF network (M = 1, single threshold) as a model file."""
    from augsnn.golden import modelfile

    from .nir_import import nir_model
    if args.method not in (None, "datanorm"):
        raise ValueError(f"a NIR IF network converts as datanorm (binary spikes, one "
                         f"threshold), not --method {args.method}")
    if args.pot_bits is not None or args.coef_bits not in (None, 2) or args.pow2_theta \
            or args.output_mode != "spiking":
        raise ValueError("a NIR graph takes only --weight-bits, --input-scale, --dataset and "
                         "--name")
    image_shape = None
    if args.dataset is not None:
        from augsnn.golden import datasets
        image_shape = datasets.load_dataset(args.dataset, "test")[0].shape[1:]
    meta = {"checkpoint": str(args.checkpoint), "command": command}
    if args.dataset is not None:
        meta["dataset"] = args.dataset
    model, report = nir_model(args.checkpoint, name=args.name or out.stem,
                              weight_bits=args.weight_bits, input_scale=args.input_scale,
                              image_shape=image_shape, meta=meta)
    modelfile.save(model, out)
    print(model.summary())
    for line in report["notes"]:
        print(f"assumed: {line}")
    for r in report["layers"]:
        print(f"{r['node']} + {r['neuron']}: weights x {r['k']:.6g}, largest weight error "
              f"{r['weight_error'] * 100:.3f}% of max|w|; theta_p {r['theta_p']} "
              f"(exact {r['theta_real']:.6g}, error {r['theta_error'] * 100:.4f}%)")
    print(f"wrote {out}")
    return 0
