"""robustlab's shared core: seeding, Hydra run records, atomic IO and agreement statistics.

Nothing heavy is imported here; import the submodules you need::

    from robustlab.common.seeding import seed_everything
    from robustlab.common.stats import icc, ccc
"""
