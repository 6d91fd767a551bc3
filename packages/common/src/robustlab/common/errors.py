"""The project's error types: input a user can fix, reported in one line by the command-line apps.

Every error raised for bad input (a study file, a config key, a data folder, a checkpoint) is a
:class:`RobustlabError`; its message says what is wrong, where (the file, row, key) and, where it
helps, what to do. The apps (:func:`robustlab.common.hydra_app.hydra_entry`) print such an error,
or an ``OSError``, as one line and exit with status 2; ``--verbose`` or ``HYDRA_FULL_ERROR=1``
shows the traceback. Each type also derives from the built-in exception a caller would expect
(``ValueError``, ``KeyError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class RobustlabError(Exception):
    """Bad input that the user can fix; the message names the thing at fault."""

    def __str__(self) -> str:
        # KeyError's str() would wrap the message in quotes; a line break that a value brought in
        # (a key "\n" of a user's file) is written as \n: the message stays one line.
        text = str(self.args[0]) if len(self.args) == 1 else super().__str__()
        return text.replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(RobustlabError, ValueError):
    """A configuration value out of range or of the wrong kind; the message names the key."""


class UnknownNameError(RobustlabError, KeyError, ValueError):
    """A name that no registry knows (a method, suite, statistic); the message lists close ones.

    A ``KeyError`` (a failed lookup) and a ``ValueError`` (a bad value in a config): either
    ``except`` catches it.
    """


class DataError(RobustlabError, ValueError):
    """A data file that cannot be used (unreadable, truncated, not finite); the message names it."""


class CheckpointError(RobustlabError, ValueError):
    """A checkpoint that cannot be trusted or read; the message names the file."""


class RunLockedError(RobustlabError, RuntimeError):
    """A run folder that another live process is writing; the message names that process."""


class RunFolderError(RobustlabError, ValueError):
    """A run folder this run may not write: another app's or study's, or one holding other files."""
