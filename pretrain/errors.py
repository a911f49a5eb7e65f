"""The one exception type for mistakes a user can make (bad path, bad file, bad option).

The command line prints it as a single line and exits non-zero; library callers can catch it.
"""


class SequenceTutorError(ValueError):
    """A user-facing error: the message names the input and what was expected.

    A ``ValueError``, so code that validates arguments the usual way catches it too.
    """
