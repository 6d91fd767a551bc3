"""Plugins written outside robustlab: one per extension point, each an example of docs/how-to/extend.md.

Each module registers what it defines when imported; a run imports it through the config key
``plugins`` (``plugins=[robustlab_test_plugins.pruning_method]``) or an entry point.
"""
