"""Any traceable PyTorch module to the float layer list, through torch.fx.

:func:`fx_float_layers` traces the module with ``torch.fx`` (``symbolic_trace``'s tracer, noting
for every node the line of ``forward`` that made it), runs the
traced graph once on a zero batch to learn every node's shape, and walks the graph in order.
The graph must be a chain (each node reads the output of the node before it); each node maps
onto one float layer of :mod:`augsnn.golden.convert` or is an identity at inference:

- modules: everything :func:`augsnn.golden.ann.module_layer` reads (Conv2d/Linear without
  bias, ReLU, LeakyReLU, AvgPool2d, Flatten, Dropout, Identity), whether held directly, in an
  ``nn.Sequential`` or in an ``nn.ModuleList``;
- functions and methods: ``F.relu``/``torch.relu``/``x.relu()``, ``F.leaky_relu``,
  ``F.avg_pool2d``, ``torch.flatten``/``x.flatten``/``x.view``/``x.reshape`` (a flatten when
  they keep the batch and join the rest, an identity when they change nothing), ``F.dropout``
  (``training=False``), ``x.contiguous()``; ``x.size(...)``/``x.shape`` only as arguments of
  a reshape.

Anything else (a bias, max pooling, BatchNorm, a residual add, a parameter used outside its
module) is refused with ``ValueError``: ``node <name> (<what>) at <file>:<line>: <why>``.
"""

from __future__ import annotations

import math
import operator
import os
import sys

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from augsnn.golden.ann import avgpool_layer, module_layer

__all__ = ["fx_float_layers", "trace"]


def _sig_avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                    count_include_pad=True, divisor_override=None):
    return locals()


def _sig_leaky_relu(input, negative_slope=0.01, inplace=False):
    return locals()


def _sig_dropout(input, p=0.5, training=True, inplace=False):
    return locals()


def _sig_flatten(input, start_dim=0, end_dim=-1):
    return locals()


_RELU = {F.relu, torch.relu, torch.relu_, "relu", "relu_"}
_LEAKY = {F.leaky_relu, "leaky_relu", "leaky_relu_"}
_DROPOUT = {F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout}
_RESHAPE = {torch.flatten, torch.reshape, "flatten", "view", "reshape"}
_IDENTITY = {"contiguous", "clone", "detach"}
_SHAPE_HELPERS = {"size", "dim"}
_REFUSED = {
    F.max_pool2d: "max pooling does not convert; use average pooling",
    F.max_pool1d: "max pooling does not convert; use average pooling",
    F.adaptive_max_pool2d: "max pooling does not convert; use average pooling",
    F.batch_norm: "BatchNorm must be folded into the preceding weights before conversion",
    operator.add: "a residual add or branch does not convert: the network must be a chain",
    torch.add: "a residual add or branch does not convert: the network must be a chain",
    torch.cat: "a concatenation does not convert: the network must be a chain",
}


_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def _name(target) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", repr(target))


def _source(node: fx.Node) -> str:
    """``file:line`` of the user code that made ``node``."""
    return node.meta.get("augsnn_source") or "an unknown source line"


class _Tracer(fx.Tracer):
    """``symbolic_trace``'s tracer that notes the user's line of every node.

    (torch's own ``record_stack_traces`` symbolises whole tracebacks: seconds per trace.)
    """

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith(_TORCH_DIR)
                                     or frame.f_code.co_filename == __file__):
            frame = frame.f_back
        if frame is not None:
            node.meta["augsnn_source"] = (f"{os.path.basename(frame.f_code.co_filename)}:"
                                          f"{frame.f_lineno}")
        return node


def trace(module: nn.Module) -> fx.GraphModule:
    """``torch.fx`` trace of ``module``, every node's source line in ``meta``."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as exc:  # noqa: BLE001 - whatever the tracer hits is the user's code
        why = " ".join(str(exc).split())[:300]
        raise ValueError(f"{type(module).__name__}: torch.fx cannot trace it "
                         f"({type(exc).__name__}: {why})") from None
    return fx.GraphModule(tracer.root, graph)


def _shape(node) -> tuple | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def fx_float_layers(module: nn.Module, input_shape=(1, 28, 28)) -> list[dict]:
    """The float layer list of ``module`` (module docstring); ``input_shape`` = ``(C, H, W)``
    of one image, used to learn the shapes of the traced graph's nodes."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"expected an nn.Module, not {type(module).__name__}")
    was_training = module.training
    module.eval()
    try:
        gm = trace(module)
        with torch.no_grad():
            try:
                ShapeProp(gm).propagate(torch.zeros(2, *input_shape))
            except Exception as exc:  # noqa: BLE001
                why = " ".join(str(exc).split())[:300]
                raise ValueError(f"{type(module).__name__}: does not run on a batch of "
                                 f"{tuple(input_shape)} images ({type(exc).__name__}: "
                                 f"{why})") from None
        return _walk(gm)
    finally:
        module.train(was_training)


def _walk(gm: fx.GraphModule) -> list[dict]:
    layers: list[dict] = []
    prev = None
    helpers: set = set()
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                _refuse(node, "input", "only a network of one input converts")
            prev = node
            continue
        if node.op == "output":
            out = node.args[0]
            if out is not prev:
                _refuse(node, "output", "the network must return the last layer's output alone")
            continue
        what = _what(gm, node)
        if node.op == "get_attr":
            _refuse(node, what, "a parameter or buffer used outside its module (F.linear or "
                                "F.conv2d on a tensor attribute?); use nn.Linear / nn.Conv2d")
        if _is_shape_helper(node, helpers):
            helpers.add(node)
            continue
        inputs = [a for a in node.all_input_nodes if a not in helpers]
        if node.op == "call_function" and node.target in _REFUSED:
            _refuse(node, what, _REFUSED[node.target])
        if inputs != [prev]:
            names = ", ".join(a.name for a in inputs) or "nothing"
            _refuse(node, what, f"reads {names}, not the output of {prev.name}: only a chain "
                                "of layers converts (no residual add, branch or reuse)")
        layer = _layer(gm, node, what)
        if layer is not None:
            layers.append(layer)
        prev = node
    return layers


def _what(gm, node) -> str:
    if node.op == "call_module":
        return f"{node.target}: {type(gm.get_submodule(node.target)).__name__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op == "get_attr":
        return f"attribute {node.target}"
    mod = getattr(node.target, "__module__", "") or ""
    prefix = ("F." if "functional" in mod else "torch." if mod.startswith("torch") else
              "operator." if mod in ("_operator", "operator") else "")
    return prefix + _name(node.target)


def _is_shape_helper(node, helpers) -> bool:
    """``x.size(0)``, ``x.shape``, ``x.shape[0]``: ints for a reshape's arguments."""
    if node.op == "call_method" and node.target in _SHAPE_HELPERS:
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
        return True
    if node.op == "call_function" and node.target in (operator.getitem, operator.mul,
                                                      operator.floordiv):
        return any(a in helpers for a in node.all_input_nodes) and \
            all(a in helpers for a in node.all_input_nodes)
    return False


def _refuse(node, what, why):
    raise ValueError(f"node {node.name} ({what}) at {_source(node)}: {why}")


def _bind(sig, node):
    args = list(node.args)
    return sig(*args, **node.kwargs)


def _layer(gm, node, what) -> dict | None:
    where = f"node {node.name} ({what}) at {_source(node)}"
    if node.op == "call_module":
        return module_layer(gm.get_submodule(node.target), where)
    target = node.target
    key = target if node.op == "call_method" else target
    if key in _RELU:
        return {"type": "relu"}
    if key in _LEAKY:
        return {"type": "leaky_relu", "alpha": float(_bind(_sig_leaky_relu, node)["negative_slope"])}
    if key is F.avg_pool2d:
        a = _bind(_sig_avg_pool2d, node)
        return avgpool_layer(a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                             a["divisor_override"], where)
    if key in _DROPOUT:
        if _bind(_sig_dropout, node)["training"] is not False:
            _refuse(node, what, "dropout with training=True is no identity at inference")
        return None
    if key in _IDENTITY:
        return None
    if key in _RESHAPE:
        src, dst = _shape(node.all_input_nodes[0]), _shape(node)
        if src is None or dst is None:
            _refuse(node, what, "its shapes are unknown")
        if dst == src:
            return None
        if len(dst) == 2 and dst[0] == src[0] and dst[1] == math.prod(src[1:]):
            return {"type": "flatten"}
        _refuse(node, what, f"reshapes {src[1:]} to {dst[1:]} per image; only flattening "
                            "(batch kept, the rest joined in C, H, W order) converts")
    _refuse(node, what, "unsupported operation")
