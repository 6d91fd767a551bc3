"""Attribution interpretability: attribution methods, localisation metrics, sanity checks."""

from robustlab.pruning.interpret.methods import (
    ATTRIBUTIONS,
    attribute,
    get_attribution,
    list_attributions,
    register_attribution,
)

__all__ = ["ATTRIBUTIONS", "attribute", "get_attribution", "list_attributions", "register_attribution"]
