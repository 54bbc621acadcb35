"""Passes, their registry, and the pass manager with its instrumentation.

A pass is a small class with a `name`, typed `options` and `run(module, ctx)`.
Transformations rewrite the module; analyses only report (into `ctx.reports`).
Pipelines are text, `canonicalize,fold-batchnorm,calibrate{percentile=99.9}`, or
built from Python:

    >>> import sncc
    >>> pm = sncc.PassManager.parse("canonicalize,fold-batchnorm,dce")
    >>> [p.name for p in pm.passes]
    ['canonicalize', 'fold-batchnorm', 'dce']
    >>> str(pm)
    'canonicalize,fold-batchnorm,dce'
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TextIO

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.limits import short


@dataclass(frozen=True)
class Option:
    """A typed pass option: `type` is int, float, bool or str; `choices` limits a str."""

    type: type
    default: Any
    help: str = ""
    choices: tuple = ()
    check: Callable[[Any], str | None] | None = None

    def convert(self, pass_name: str, key: str, raw: Any) -> Any:
        where = f"pass '{pass_name}': option '{key}'"
        try:
            if self.type is bool and isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value = raw.lower() in ("true", "1")
            elif self.type in (int, float) and isinstance(raw, bool):
                raise ValueError
            else:
                value = self.type(raw)
                if self.type is int and isinstance(raw, float) and raw != int(raw):
                    raise ValueError
        except (TypeError, ValueError):
            raise SnccError(f"{where} takes a {self.type.__name__}, got {short(raw)}") from None
        if self.choices and value not in self.choices:
            raise SnccError(f"{where} must be one of {', '.join(map(str, self.choices))}; got {short(value)}")
        if self.check is not None:
            err = self.check(value)
            if err:
                raise SnccError(f"{where} {err} (got {short(value)})")
        return value


@dataclass
class PassContext:
    """What passes may read besides the module (calibration data, T) and where they report."""

    calibration_data: Any = None
    T: int | None = None
    reports: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


class Pass:
    """Base class. Subclasses set `name`, `summary`, `options` and implement `run`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}
    is_analysis: ClassVar[bool] = False

    def __init__(self, **options):
        self.opts: dict[str, Any] = {}
        for key, raw in options.items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise SnccError(f"pass '{self.name}' has no option '{key}' (options: {known})")
            self.opts[key] = self.options[key].convert(self.name, key, raw)
        for key, opt in self.options.items():
            self.opts.setdefault(key, opt.default)

    def run(self, module: Module, ctx: PassContext) -> Module | None:
        raise NotImplementedError

    def __str__(self) -> str:
        changed = [f"{k}={_fmt(v)}" for k, v in self.opts.items() if v != self.options[k].default]
        return self.name + ("{" + ",".join(changed) + "}" if changed else "")


def _fmt(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


PASSES: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a pass available to pipelines by its `name`."""
    if cls.name in PASSES and PASSES[cls.name] is not cls:
        raise ValueError(f"pass '{cls.name}' is registered twice")
    PASSES[cls.name] = cls
    return cls


_PIPELINE_RE = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(text: str) -> list[Pass]:
    passes: list[Pass] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _PIPELINE_RE.match(text, pos)
        if not m or m.end() == pos:
            raise SnccError(f"pipeline '{text}': cannot read from column {pos + 1} ('{text[pos:pos + 20]}'); "
                            "expected name or name{key=value,...}, separated by commas")
        name, body = m.group(1), m.group(2)
        if name not in PASSES:
            raise SnccError(f"pipeline '{text}': unknown pass '{name}'; available passes: {', '.join(sorted(PASSES))}")
        options = {}
        if body and body.strip():
            for item in body.split(","):
                if "=" not in item:
                    raise SnccError(f"pipeline '{text}': option '{item.strip()}' of pass '{name}' needs key=value")
                k, v = item.split("=", 1)
                if k.strip() in options:  # keeping one of the two silently would hide a typo
                    raise SnccError(f"pipeline '{text}': option '{k.strip()}' of pass '{name}' is given twice")
                options[k.strip()] = v.strip()
        passes.append(PASSES[name](**options))
        pos = m.end()
    return passes


class PassManager:
    """Runs passes in order, with instrumentation.

    `print_ir_after_all`, `print_ir_after` (a set of pass names), `time_passes` and
    `verify_each` (on by default: the verifier runs after every pass).
    """

    def __init__(self, passes: list[Pass] | None = None, *, verify_each: bool = True,
                 print_ir_after_all: bool = False, print_ir_after: set[str] | None = None,
                 time_passes: bool = False, elide: bool = False, stream: TextIO | None = None):
        self.passes: list[Pass] = list(passes or [])
        self.verify_each = verify_each
        self.print_ir_after_all = print_ir_after_all
        self.print_ir_after = set(print_ir_after or ())
        self.time_passes = time_passes
        self.elide = elide
        self.stream = stream
        self.timings: list[tuple[str, float]] = []
        for name in self.print_ir_after:
            if name not in PASSES:
                raise SnccError(f"--print-ir-after: unknown pass '{name}'; available passes: {', '.join(sorted(PASSES))}")

    @classmethod
    def parse(cls, pipeline: str, **instrumentation) -> "PassManager":
        return cls(parse_pipeline(pipeline), **instrumentation)

    def add(self, p: Pass) -> "PassManager":
        self.passes.append(p)
        return self

    def __str__(self) -> str:
        return ",".join(str(p) for p in self.passes)

    def run(self, module: Module, ctx: PassContext | None = None) -> Module:
        """Run every pass on `module` (in place where the passes rewrite) and return the result."""
        ctx = ctx or PassContext()
        out = self.stream or sys.stderr
        self.timings = []
        for p in self.passes:
            start = time.perf_counter()
            result = p.run(module, ctx)
            if result is not None:
                module = result
            self.timings.append((str(p), time.perf_counter() - start))
            if self.verify_each:
                try:
                    module.verify()
                except SnccError as e:
                    raise SnccError(f"after pass '{p.name}': {e}") from e
            if self.print_ir_after_all or p.name in self.print_ir_after:
                out.write(f"// ----- IR after {p} -----\n")
                out.write(module.to_text(elide=self.elide))
        if self.time_passes:
            total = sum(t for _, t in self.timings) or 1e-12
            out.write("===-------------------------------------------------------------===\n")
            out.write("                      ... Pass execution timing report ...\n")
            out.write("===-------------------------------------------------------------===\n")
            out.write(f"  Total Execution Time: {total:.4f} seconds\n\n")
            out.write("   Wall Time  (%)     Name\n")
            for name, t in self.timings:
                out.write(f"  {t:9.4f} ({100 * t / total:5.1f}%)  {name}\n")
            out.write(f"  {total:9.4f} (100.0%)  Total\n")
        return module
