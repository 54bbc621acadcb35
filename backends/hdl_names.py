"""Names from a model, made safe for generated hardware files.

Model files are untrusted. An ONNX node name can hold a newline, and a newline inside a
Verilog `//` comment ends the comment: the rest of the name becomes Verilog (a Verilator
`$system("...")` call runs a shell command when the testbench is built). So no name from a
model ever reaches generated Verilog, Tcl, XDC or a file name as it is: backends emit
`hdl_identifier(name)` (letters, digits and `_` only, bounded length), and list the original
names in their report through `markdown_literal`, which escapes them for Markdown.

    >>> hdl_identifier('conv1\\n$system("rm -rf ~");//')
    'conv1__system__rm__rf_______'
    >>> hdl_identifier("3.weight")
    'n3_weight'
    >>> print(markdown_literal("a|b`<c>"))
    a\\|b\\`\\<c\\>
"""
from __future__ import annotations

import re

MAX_IDENTIFIER = 48
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+!|~-]")


def hdl_identifier(name: object, fallback: str = "model") -> str:
    """A Verilog/VHDL/Tcl-safe identifier made from `name`: every other character becomes `_`,
    a leading digit or `_` gets the prefix `n`, and the result is at most 48 characters."""
    s = _UNSAFE.sub("_", str(name or ""))[:MAX_IDENTIFIER]
    if not s.strip("_"):
        return fallback
    if not s[0].isalpha():
        s = ("n" + s)[:MAX_IDENTIFIER]
    return s


def markdown_literal(name: object, limit: int = 200) -> str:
    """`name` as literal text for a Markdown table cell: one line (control characters shown as
    `\\xNN`), every Markdown/HTML special character backslash-escaped, at most `limit`
    characters (then `...`)."""
    s = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(name))
    if len(s) > limit:
        s = s[:limit] + "..."
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), s)
