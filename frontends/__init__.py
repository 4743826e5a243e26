"""Front ends: torch.fx modules, ONNX files and NIR graphs in; NIR graphs out (docs/frontends.md).

Each front end turns its input into what the conversion already reads: the float layer list
of :mod:`augsnn.golden.convert` (torch.fx, ONNX) or an integer :class:`~augsnn.golden.model.Model`
(NIR import); :mod:`.nir_export` writes a model as a NIR graph. The package sits on golden/;
golden/ reaches it only lazily (``golden/ann.py`` for a non-Sequential module,
``golden/commands.py`` for ``.onnx`` and ``.nir`` checkpoints).
"""
