"""Unsupervised object discovery on a model's patch features: LOST, TokenCut, attention; CorLoc."""

from robustlab.pruning.discovery.boxes import best_iou, box_iou, corloc
from robustlab.pruning.discovery.methods import (
    DISCOVERY,
    centred_boxes,
    discover,
    get_discovery,
    list_discovery,
    register_discovery,
)

__all__ = ["DISCOVERY", "best_iou", "box_iou", "centred_boxes", "corloc", "discover", "get_discovery",
           "list_discovery", "register_discovery"]
