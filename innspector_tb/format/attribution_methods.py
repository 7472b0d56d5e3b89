"""The names of the attribution methods, as stored (`attributions/<method>/<target>` in a step file).

One list for the writer (capture/attribution_setup.py, capture/relevance/) and the readers (store/,
server/), which must not import TensorFlow. What each method computes: docs/format.md, "Attribution maps".
"""

# Plain gradients (capture/attribution.py).
GRADIENT_METHODS = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
# Relevance propagation (capture/relevance/): one rule for every linear layer, or a composite.
LRP_METHODS = (
    "lrp_z",
    "lrp_epsilon",
    "lrp_gamma",
    "lrp_alpha1_beta0",
    "lrp_alpha2_beta1",
    "lrp_z_plus",
    "lrp_w_square",
    "lrp_flat",
    "lrp_epsilon_plus_flat",
    "lrp_epsilon_gamma_box",
    "deep_taylor",
)
# Gradients with the ReLUs' backward pass modified (capture/relevance/guided.py).
GUIDED_METHODS = ("guided_backprop", "deconvnet", "guided_grad_cam")
OCCLUSION_METHODS = ("occlusion",)
# Token inputs, attributed through their embedding (capture/token_attribution.py): gradient x embedding
# here, and integrated gradients under its own name (on the embeddings, summed per token).
TOKEN_METHODS = ("gradient_x_embedding", "integrated_gradients")
METHODS = GRADIENT_METHODS + LRP_METHODS + GUIDED_METHODS + OCCLUSION_METHODS + ("gradient_x_embedding",)
# Non-negative maps (the others are signed).
NON_NEGATIVE = ("grad_cam",)
TARGETS = ("predicted", "true")
