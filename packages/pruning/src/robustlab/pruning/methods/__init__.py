"""Pruning methods: the :data:`METHODS` registry of :class:`PruningMethod`, one module per family.

A method says how to choose the weights to remove (its ``prune`` function), where each step
starts (from the previous step, from the dense trained model, or from the initialisation) and
how retraining restarts (learning-rate rewinding or weight rewinding). Add one in a file::

    @METHODS.register("my_method", start="previous", rewind="lr")
    def my_method(ctx: PruneContext, target_sparsity: float) -> None:
        ...
"""

# Importing a family registers its methods (as timm's model families register their models).
from robustlab.pruning.methods import magnitude, random_prune, snip, structured  # noqa: F401,E402
from robustlab.pruning.methods.registry import (
    METHODS,
    PruneContext,
    PruningMethod,
    get_method,
    list_methods,
    register_method,
)

__all__ = ["METHODS", "PruneContext", "PruningMethod", "get_method", "list_methods", "register_method"]
