"""Parser of the IR text format. The grammar is spec/sir.lark, loaded from the
installed package data `sncc.spec`, so the spec is the parser's single source."""
from __future__ import annotations

import functools
import json
import re
from importlib import resources

import lark
import numpy as np

from sncc import ops
from sncc.errors import ParseError, SnccError
from sncc.ir import Module, Operation, Value
from sncc.limits import INT_MAX, INT_MIN
from sncc.types import F32, Fixed, Spike, TensorType

_TYPE_RE = re.compile(r"tensor<((?:[0-9]+x)*)(f32|spike|fx<(-?[0-9]+),(-?[0-9]+)>)>")


@functools.cache
def _parser() -> lark.Lark:
    grammar = resources.files("sncc.spec").joinpath("sir.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_type(text: str) -> TensorType:
    m = _TYPE_RE.fullmatch(text)
    if not m:
        raise ValueError(f"not a tensor type: {text}")
    dims = tuple(_int(d, "a tensor dimension") for d in m.group(1).split("x") if d)
    if m.group(2) == "f32":
        elem = F32()
    elif m.group(2) == "spike":
        elem = Spike()
    else:
        elem = Fixed(_int(m.group(3), "a width"), _int(m.group(4), "a fraction bit count"))
    return TensorType(dims, elem)


def _int(text: str, what: str = "an integer") -> int:
    """An integer literal, which must fit in int64 (spec/ir.md section 3.1). The digit count is
    checked first: Python refuses to convert more than 4,300 digits, and 20 always suffice."""
    digits = text.lstrip("+-").lstrip("0")
    value = int(text) if len(digits) <= 20 else None
    if value is None or not INT_MIN <= value <= INT_MAX:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(digits)} digits)"
        raise ValueError(f"{what} {shown} does not fit in a signed 64-bit integer")
    return value


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.values: dict[str, Value] = {}
        self.resources: dict[str, bytes] = {}
        self.lines: dict[int, tuple[int, int]] = {}
        self.pending: list[tuple[dict, str, str, TensorType, object]] = []  # (attrs, key, res, type, token)

    def error(self, node, msg: str) -> ParseError:
        line = getattr(node, "line", None) or getattr(getattr(node, "meta", None), "line", "?")
        col = getattr(node, "column", None) or getattr(getattr(node, "meta", None), "column", "?")
        return ParseError(f"{self.filename}:{line}:{col}: {msg}")

    def type_of(self, tok) -> TensorType:
        try:
            return parse_type(str(tok))
        except ValueError as e:
            raise self.error(tok, str(e)) from None

    def value(self, node, attrs: dict, key: str):
        kind = node.data if isinstance(node, lark.Tree) else None
        if kind == "int":
            try:
                return _int(str(node.children[0]))
            except ValueError as e:
                raise self.error(node.children[0], str(e)) from None
        if kind == "float":
            return float(node.children[0])
        if kind == "string":
            try:
                return json.loads(str(node.children[0]))
            except ValueError as e:  # the grammar admits any backslash pair; JSON does not
                raise self.error(node.children[0], f"invalid string literal: {e.msg} "
                                 "(strings are JSON: escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)") from None
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "list":
            return [self.value(c, attrs, key) for c in node.children]
        if kind == "dense":
            *elems, tok = node.children
            t = self.type_of(tok)
            vals = [self.value(c, attrs, key) for c in elems]
            if len(vals) != t.size:
                raise self.error(tok, f"dense<...> has {len(vals)} values but {t} holds {t.size}")
            if isinstance(t.elem, F32):
                # f32(1e300) is inf: refuse instead of storing a value nobody wrote
                with np.errstate(over="ignore"):
                    big = next((v for v in vals if np.isfinite(v) and not np.isfinite(np.float32(v))), None)
                if big is not None:
                    raise self.error(tok, f"value {big!r} is beyond the f32 range (about 3.4e38)")
            else:
                if any(isinstance(v, float) for v in vals):
                    raise self.error(tok, f"{t.elem} values are stored integers; got a float literal")
                lo, hi = (0, 1) if isinstance(t.elem, Spike) else (t.elem.min_int, t.elem.max_int)
                if any(not lo <= v <= hi for v in vals):
                    raise self.error(tok, f"a value does not fit {t.elem} (integers {lo}..{hi})")
            return np.array(vals, dtype=t.elem.numpy_dtype).reshape(t.shape)
        if kind == "dense_resource":
            name, tok = node.children
            self.pending.append((attrs, key, str(name), self.type_of(tok), name))
            return None  # filled in once the resources section is read
        if kind == "elided":
            raise self.error(node.children[0], "this IR was printed with elided weights "
                             "(--elide-weights) and cannot be loaded; print it again without that option")
        raise AssertionError(node)

    def attrs(self, node) -> dict:
        out: dict = {}
        if node is None:
            return out
        for attr in node.children:
            key_tok, val = attr.children
            key = str(key_tok)
            if key in out:
                raise self.error(key_tok, f"attribute '{key}' given twice")
            out[key] = self.value(val, out, key)
        return out

    def build(self, tree: lark.Tree) -> Module:
        module_node = tree.children[0]
        if len(tree.children) > 1:
            for res in tree.children[1].children:
                name, blob = res.children
                if str(name) in self.resources:
                    raise self.error(name, f"resource '{name}' defined twice")
                self.resources[str(name)] = bytes.fromhex(str(blob)[2:]) if len(blob) % 2 == 0 else None
                if self.resources[str(name)] is None:
                    raise self.error(blob, f"resource '{name}' has an odd number of hex digits")
        self.module_pos = (sym_tok.line, sym_tok.column) if (sym_tok := module_node.children[0]) else ("?", "?")
        sym, *rest = module_node.children
        mod_attrs_node = rest[0] if rest and rest[0].data == "module_attrs" else None
        op_nodes = [c for c in rest if isinstance(c, lark.Tree) and c.data == "op"]
        ret = rest[-1]
        mod_attrs = self.attrs(mod_attrs_node.children[0]) if mod_attrs_node else {}
        m = Module(str(sym)[1:], mod_attrs)
        self.pending = [(m.attrs if a is mod_attrs else a, k, n, t, tok) for a, k, n, t, tok in self.pending]
        for node in op_nodes:
            m.ops.append(self.op(node))
        for tok in ret.children:
            m.outputs.append(self.lookup(tok))
        for attrs, key, name, t, tok in self.pending:
            if name not in self.resources:
                raise self.error(tok, f"resource '{name}' is not defined in the resources section")
            data = self.resources[name]
            dtype = t.elem.numpy_dtype.newbyteorder("<")
            if len(data) != t.size * dtype.itemsize:
                raise self.error(tok, f"resource '{name}' has {len(data)} bytes, {t} needs {t.size * dtype.itemsize}")
            attrs[key] = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(t.shape)
        return m

    def lookup(self, tok) -> Value:
        try:
            return self.values[str(tok)[1:]]
        except KeyError:
            raise self.error(tok, f"use of undefined value {tok} (operands must be defined above their use)") from None

    def op(self, node) -> Operation:
        children = list(node.children)
        name_tok, kind_tok = children[0], children[1]
        type_tok = children[-1]
        operands, attr_node = [], None
        for c in children[2:-1]:
            if c.data == "operands":
                operands = [self.lookup(t) for t in c.children]
            elif c.data == "attr_dict":
                attr_node = c
        kind = str(kind_tok)
        if kind not in ops.OPS:
            raise self.error(kind_tok, f"unknown op '{kind}'; known ops: {', '.join(sorted(ops.OPS))}")
        name = str(name_tok)[1:]
        if name in self.values:
            raise self.error(name_tok, f"value %{name} is defined twice (SSA: one definition per value)")
        attrs = self.attrs(attr_node)
        op = Operation(kind, operands, attrs, self.type_of(type_tok), name)
        # resources are read after the body: point the pending fills at the op's own dict
        self.pending = [(op.attrs if a is attrs else a, k, n, t, tok) for a, k, n, t, tok in self.pending]
        self.lines[id(op)] = (name_tok.line, name_tok.column)
        self.values[name] = op.result
        return op


def parse_module(text: str, filename: str = "<string>") -> Module:
    try:
        tree = _parser().parse(text)
    except lark.UnexpectedInput as e:
        expected = sorted(getattr(e, "expected", None) or getattr(e, "allowed", None) or [])
        what = f"; expected one of: {', '.join(expected)}" if expected else ""
        got = ""
        if isinstance(e, lark.UnexpectedToken):
            got = f"unexpected {e.token.type} {str(e.token)[:40]!r}"
        elif isinstance(e, lark.UnexpectedCharacters):
            got = f"unexpected character {text[e.pos_in_stream]!r}" if e.pos_in_stream < len(text) else "unexpected end"
        else:
            got = "unexpected end of input"
        raise ParseError(f"{filename}:{e.line}:{e.column}: {got}{what}") from None
    builder = _Builder(filename)
    m = builder.build(tree)
    # Fill defaults and check attribute kinds; then the full verifier.
    for op in m.ops:
        try:
            op.attrs = ops.complete_attrs(op.kind, op.attrs)
        except SnccError as e:
            line, col = builder.lines[id(op)]
            raise ParseError(f"{filename}:{line}:{col}: {e}") from None
    from sncc.verifier import verify

    try:
        verify(m)
    except SnccError as e:
        line, col = builder.lines.get(id(getattr(e, "op", None)), builder.module_pos)
        raise ParseError(f"{filename}:{line}:{col}: {e}") from None
    return m
