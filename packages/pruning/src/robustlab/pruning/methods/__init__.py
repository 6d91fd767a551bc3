"""Pruning methods: a name -> :class:`PruningMethod` registry, one small module per family.

A method says how to choose the weights to remove (its ``prune`` function), where each step
starts (from the previous step, from the dense trained model, or from the initialisation) and
how retraining restarts (learning-rate rewinding or weight rewinding). Add one in a file::

    @register_method("my_method", start="previous", rewind="lr")
    def my_method(ctx: PruneContext, target_sparsity: float) -> None:
        ...
"""

from robustlab.pruning.methods.registry import (
    PruneContext,
    PruningMethod,
    get_method,
    list_methods,
    register_method,
)

__all__ = ["PruneContext", "PruningMethod", "get_method", "list_methods", "register_method"]
