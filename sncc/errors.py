"""Errors that sncc reports to users.

`SnccError` is a *user* error: bad model, unsupported op, bad option, bad data.
The CLI prints its message in one line and exits with code 1; anything else that
escapes is an internal error (exit code 2).
"""


class SnccError(Exception):
    """A problem with the user's input, reported as one clear message."""


class VerificationError(SnccError):
    """The IR breaks an invariant of the specification (spec/ir.md)."""


class ParseError(SnccError):
    """IR text that does not follow spec/sir.lark; the message carries file:line:col."""


class UnsupportedError(SnccError):
    """A model uses something sncc cannot compile (an ONNX op, an activation, a target)."""
