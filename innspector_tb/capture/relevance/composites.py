"""Which rule each linear layer gets, per LRP method.

Single-rule methods use their rule for every Dense and convolution. The composites follow Zennit's
(`zennit.composites`), where iNNvestigate calls them presets:

  lrp_epsilon_plus_flat   first linear layer: flat; other convolutions: z⁺; other Dense layers: ε
  lrp_epsilon_gamma_box   first linear layer: z^B; other convolutions: γ; other Dense layers: ε
  deep_taylor             first linear layer: z^B; every other linear layer: z⁺ (iNNvestigate's
                          "deep_taylor.bounded")

"First linear layer": a Dense or convolution whose input is the model's input, reached through layers
without weights only (Flatten, pooling, ...). Zennit gives z^B in EpsilonGammaBox to a first
*convolution* only; here a first Dense layer (an MLP) gets it too, as the input layer's rule. The
bounds of z^B are the value range of the attributed samples (their minimum and maximum).
Pooling, Add and Concatenate have their own rules whatever the method (layer_rules.py).

Flat on a first *Dense* layer spreads each neuron's relevance over the whole input, so an MLP's
EpsilonPlusFlat map is uniform (each sample's relevance, evenly spread); on a first convolution it
spreads over the receptive field (a blurred map). For MLPs EpsilonGammaBox or ε says more.
"""

from innspector_tb.capture.relevance import rules


def rule_for(method, is_convolution, is_first, options):
    """The rule of one linear layer for `method` (a name of LRP_METHODS)."""
    epsilon, gamma = float(options["lrp_epsilon"]), float(options["lrp_gamma"])
    single = {
        "lrp_z": rules.Z(),
        "lrp_epsilon": rules.Epsilon(epsilon),
        "lrp_gamma": rules.Gamma(gamma),
        "lrp_alpha1_beta0": rules.AlphaBeta(1.0, 0.0),
        "lrp_alpha2_beta1": rules.AlphaBeta(2.0, 1.0),
        "lrp_z_plus": rules.ZPlus(),
        "lrp_w_square": rules.WSquare(),
        "lrp_flat": rules.Flat(),
    }
    if method in single:
        return single[method]
    if method == "lrp_epsilon_plus_flat":
        return rules.Flat() if is_first else rules.ZPlus() if is_convolution else rules.Epsilon(epsilon)
    if method == "lrp_epsilon_gamma_box":
        return rules.ZBox() if is_first else rules.Gamma(gamma) if is_convolution else rules.Epsilon(epsilon)
    if method == "deep_taylor":
        return rules.ZBox() if is_first else rules.ZPlus()
    raise ValueError("no LRP method %r" % method)


def needs_bounds(method):
    return method in ("lrp_epsilon_gamma_box", "deep_taylor")
