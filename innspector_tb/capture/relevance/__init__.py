"""Relevance propagation (LRP) and the other iNNvestigate methods, for Keras 3 on TensorFlow.

No maintained LRP exists for Keras 3 (iNNvestigate needs TensorFlow 1-era Keras, Zennit is PyTorch), so
the propagation is written here, layer by layer over the model's functional graph:

  trace.py        the forward walk: every leaf layer call with its input and output tensors
  layer_rules.py  what each layer type does with relevance (linear, pooling, moving, adding, passing)
  canonize.py     BatchNormalization folded into the Dense/Conv layer before it
  rules.py        the rules of linear layers: LRP-0/z, ε, γ, αβ, z⁺, w², flat, z^B (the gradient trick)
  composites.py   which rule each linear layer gets, per method (EpsilonPlusFlat, EpsilonGammaBox, ...)
  propagate.py    the backward walk: from the class score down to the input
  guided.py       Guided Backpropagation and DeconvNet (modified gradients through ReLUs)
  occlusion.py    occlusion: a sliding patch set to a baseline, the score's drop per position
  maps.py         the maps of a batch of (sample, class) pairs, as the Attributor asks for them

This module stays light (no TensorFlow): the names are read by `attribution_setup` and the writer.
"""

from innspector_tb.format.attribution_methods import GUIDED_METHODS, LRP_METHODS, OCCLUSION_METHODS

METHODS = LRP_METHODS + GUIDED_METHODS + OCCLUSION_METHODS

DEFAULT_OPTIONS = {
    "lrp_epsilon": 0.1,
    "lrp_gamma": 0.25,
    "occlusion_patch": 0,  # 0: a quarter of each spatial side (at least 1)
    "occlusion_stride": 0,  # 0: half the patch (at least 1)
    "occlusion_baseline": "grey",  # the middle of the attributed samples' value range, or a number
}
