"""The Jinja2 sandbox every tenant-authored template runs in.

Templates are untrusted code: they run in `ImmutableSandboxedEnvironment` (never Django
templates) with no globals, fail loudly on anything undefined (`StrictUndefined`), and run
within a `limits.Budget`:

- Nothing a tenant writes runs while compiling: the optimizer's constant folding is off and
  output goes through a context-bound `finalize`, so Jinja cannot evaluate `{{ 'a'|center(
  999999999) }}` at compile time (it did, on save, for 15 s and 3 GB).
- Operations that allocate are checked before they run: `*`, `**`, `+`, `%`, `~`, the
  string-building filters and str methods (widths, counts, the size of what they build).
- Every loop iteration, output statement inside a loop or macro, and call ticks the
  budget's clock, and counts the template text it outputs.

Compiled templates are cached per source string, so a batch of recipients parses each source
once.

https://jinja.palletsprojects.com/en/stable/sandbox/
"""

from __future__ import annotations

import math
import operator
import re
import types
from collections.abc import Callable, Iterable
from functools import lru_cache, update_wrapper
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    SecurityError,
)
from jinja2.utils import _PassArg
from markupsafe import Markup

from notifications.rendering.limits import Budget, RenderLimitExceeded, text_size

# Strings and lists a template builds with `*` may not grow past this many items.
MAX_REPEAT_LENGTH = 100_000
# `**` and `*` may not produce integers wider than this many bits.
MAX_POWER_BITS = 4096
_TEMPLATE_CACHE_SIZE = 2048
# The attribute of a render's Context holding its Budget.
BUDGET_ATTRIBUTE = "clarion_budget"
# printf-style conversions: `%-10.3f`, `%(name)s`, `%*d`.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")
# str methods whose first argument is the width of the result (or a tab's width).
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def budget_of(context: Context) -> Budget:
    """The budget of the render a context belongs to (a default one if none was given)."""
    budget = context.__dict__.get(BUDGET_ATTRIBUTE)
    if budget is None:
        budget = Budget()
        setattr(context, BUDGET_ATTRIBUTE, budget)
    return budget


def _tick(size: int, lineno: int) -> nodes.ExprStmt:
    """A tick: check the clock, count `size` characters of template text about to be output.

    Jinja forbids new node types, so a tick is an `ExprStmt` (the `do` extension's statement;
    extensions are off, so a tenant's template never holds one) of a constant.
    """
    return nodes.ExprStmt(nodes.Const(size, lineno=lineno), lineno=lineno)


def _instrument(node: nodes.Node, repeated: bool = False) -> None:
    """Add a tick to every loop body and before every Output that can run more than once."""
    for name in node.fields:
        value = getattr(node, name)
        if isinstance(value, nodes.Node):
            _instrument(value, repeated)
        elif isinstance(value, list):
            inner = repeated or (
                name == "body" and isinstance(node, nodes.For | nodes.Macro | nodes.CallBlock)
            )
            body: list = []
            for child in value:
                if isinstance(child, nodes.Node):
                    _instrument(child, inner)
                    if inner and isinstance(child, nodes.Output):
                        size = sum(
                            len(part.data) for part in child.nodes
                            if isinstance(part, nodes.TemplateData)
                        )  # fmt: skip
                        body.append(_tick(size, child.lineno))
                body.append(child)
            if name == "body" and isinstance(node, nodes.For):
                body.insert(0, _tick(0, node.lineno))
            setattr(node, name, body)


class _CodeGenerator(CodeGenerator):
    def visit_ExprStmt(self, node: nodes.ExprStmt, frame) -> None:
        size = int(node.node.value)
        self.writeline(f"environment.clarion_tick(context, {size})", node)

    # Output straight into the message (no buffer) is counted as it is yielded; a string
    # there skips `finalize`, which is only needed to size anything else before str() runs.
    def _output_child_pre(self, node: nodes.Expr, frame, finalize) -> None:
        if frame.buffer is not None:
            return super()._output_child_pre(node, frame, finalize)
        super()._output_child_pre(node, frame, finalize._replace(src=None))
        self.write("(clarion_out if (clarion_out := ")

    def _output_child_post(self, node: nodes.Expr, frame, finalize) -> None:
        if frame.buffer is not None:
            return super()._output_child_post(node, frame, finalize)
        self.write(").__class__ is str else environment.finalize(context, clarion_out))")
        super()._output_child_post(node, frame, finalize._replace(src=None))

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        # `a ~ b`: sized before it is joined.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.clarion_concat(context, {join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _check_printf(budget: Budget, fmt: str, args: Any) -> None:
    """`fmt % args`: no `*` widths, widths and precisions within limits, result within room."""
    for match in _PRINTF_SPEC.finditer(fmt):
        width, precision = match.groups()
        if "*" in (width, precision):
            raise RenderLimitExceeded("'*' widths in % formatting are not available")
        if width:
            budget.check_width("a % format width", int(width))
        if precision:
            budget.check_width("a % format precision", int(precision))
    room = budget.room()
    size = len(fmt) + text_size(args, budget, room)
    budget.spend(size)


def _check_format_spec(budget: Budget, spec: str) -> None:
    """A `{:spec}` field: every width or precision in it within limits."""
    for digits in _DIGITS.findall(spec or ""):
        budget.check_width("a format width", int(digits))


def _limited_formatter(base: type) -> type:
    class Limited(base):
        def __init__(self, env, budget: Budget, **kwargs) -> None:
            super().__init__(env, **kwargs)
            self._budget = budget

        def format_field(self, value: Any, format_spec: str) -> Any:
            _check_format_spec(self._budget, format_spec)
            self._budget.spend(text_size(value, self._budget))
            result = super().format_field(value, format_spec)
            self._budget.spend(len(result))
            return result

    return Limited


_Formatter = _limited_formatter(SandboxedFormatter)
_EscapeFormatter = _limited_formatter(SandboxedEscapeFormatter)


# --- Filters -----------------------------------------------------------------------------
# Each check takes the budget and the filter's own arguments, and raises before the filter
# allocates. Filters that turn their input into text have it sized first (`_text`).


def _text(budget: Budget, value: Any, *args: Any, **kwargs: Any) -> None:
    if not isinstance(value, str):
        budget.spend(text_size(value, budget))


def _center(budget: Budget, value: Any, width: int = 80) -> None:
    _text(budget, value)
    budget.check_width("center() width", width)


def _indent(budget: Budget, value: Any, width: Any = 4, first: bool = False, blank: bool = False):
    _text(budget, value)
    budget.check_width("indent() width", width)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
    budget.spend(step * lines)


def _wordwrap(budget: Budget, value: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> None:  # fmt: skip
    _text(budget, value)
    if isinstance(width, int) and width < 1:
        raise RenderLimitExceeded("wordwrap() width must be at least 1")
    if wrapstring and isinstance(value, str) and isinstance(width, int):
        # Every wrapped line adds the wrap string.
        budget.spend((len(value) // width + value.count("\n") + 1) * len(str(wrapstring)))


def _replace(budget: Budget, value: Any, old: Any = "", new: Any = "", count: Any = None):
    _text(budget, value)
    text = value if isinstance(value, str) else ""
    old, new = str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    budget.spend(times * max(0, len(new) - len(old)))


def _join(budget: Budget, value: Any, d: Any = "", attribute: Any = None) -> None:
    items = value if isinstance(value, list | tuple) else None
    if items is not None and attribute is None:
        budget.spend(text_size(list(items), budget) + len(str(d)) * len(items))


def _format(budget: Budget, value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(budget, str(value) if isinstance(value, str) else "", kwargs or args)


def _tojson(budget: Budget, value: Any, indent: Any = None) -> None:
    _text(budget, value)
    budget.check_width("tojson() indent", indent)


def _batch(budget: Budget, value: Any, linecount: Any = 1, fill_with: Any = None) -> None:
    if fill_with is not None:
        budget.check_width("batch() count", linecount)


def _slice(budget: Budget, value: Any, slices: Any = 1, fill_with: Any = None) -> None:
    budget.check_width("slice() count", slices)


def _sum(budget: Budget, value: Any, attribute: Any = None, start: Any = 0) -> None:
    # sum() refuses strings; a sum of lists is a list as long as all of them.
    if isinstance(start, list | tuple) and isinstance(value, list | tuple):
        length = len(start) + sum(len(item) for item in value if isinstance(item, list | tuple))
        if length > MAX_REPEAT_LENGTH:
            raise RenderLimitExceeded("the result of sum() is too long")
        budget.spend(length)


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "tojson": _tojson,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    **{
        name: _text
        for name in (
            "capitalize", "e", "escape", "forceescape", "lower", "pprint", "safe", "string",
            "striptags", "title", "trim", "truncate", "upper", "urlencode", "urlize",
            "wordcount", "xmlattr",
        )
    },
}  # fmt: skip


def _limited_filter(name: str, original: Callable, check: Callable[..., None]) -> Callable:
    pass_arg = _PassArg.from_obj(original)

    def limited(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = budget_of(context)
        check(budget, value, *args, **kwargs)
        if pass_arg is _PassArg.context:
            result = original(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = original(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = original(context.environment, value, *args, **kwargs)
        else:
            result = original(value, *args, **kwargs)
        if isinstance(result, str):
            budget.spend(len(result))
        return result

    limited.__name__ = limited.__qualname__ = f"limited_{name}"
    return pass_context(limited)


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every `{{ … }}`: count what it outputs (into a buffer or the message)."""
    if value.__class__ is str or isinstance(value, str):
        budget_of(context).spend(len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        budget = budget_of(context)
        budget.spend(text_size(value, budget))
    return value


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, refusing memory and time bombs."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, finalize=_finalize, **options)
        for name, check in _FILTER_CHECKS.items():
            if name in self.filters:
                self.filters[name] = _limited_filter(name, self.filters[name], check)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        ast = super()._parse(source, name, filename)
        _instrument(ast)
        return ast

    # Called by the generated code.
    def clarion_tick(self, context: Context, size: int) -> None:
        budget = budget_of(context)
        budget.tick()
        if size:
            budget.spend(size)

    def clarion_concat(self, context: Context, join: Callable, parts: tuple) -> str:
        budget = budget_of(context)
        budget.spend(sum(text_size(part, budget) for part in parts))
        return join(parts)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Any call (macros, `loop()`, methods) ticks; str methods that allocate are sized."""
        budget = budget_of(context)
        budget.tick()
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes) and isinstance(obj, types.BuiltinMethodType):
            args = _check_str_method(budget, owner, obj.__name__, args, kwargs)
            result = super().call(context, obj, *args, **kwargs)
            if isinstance(result, str | bytes):
                budget.spend(len(result))
            return result
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        """Apply `*`, `**`, `+` or `%`, refusing results past the limits."""
        budget = budget_of(context)
        if operator_ == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right * math.log2(abs(left)) > MAX_POWER_BITS
            ):
                raise RenderLimitExceeded("the result of ** is too large")
            return operator.pow(left, right)
        if operator_ == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
                    if len(sequence) * times > MAX_REPEAT_LENGTH:
                        raise RenderLimitExceeded("the result of * is too long")
                    budget.spend(len(sequence) * max(times, 0))
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_POWER_BITS
            ):
                raise RenderLimitExceeded("the result of * is too large")
            return operator.mul(left, right)
        if operator_ == "+":
            if isinstance(left, str | bytes | list | tuple) and isinstance(
                right, str | bytes | list | tuple
            ):
                budget.spend(len(left) + len(right))
            return operator.add(left, right)
        # operator_ == "%"
        if isinstance(left, str):
            _check_printf(budget, left, right)
        return operator.mod(left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'…'.format(…)` and `format_map`, sandboxed and with every field's width limited."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        str_type = type(owner)
        is_format_map = value.__name__ == "format_map"
        env = self

        @pass_context
        def wrapper(context: Context, *args: Any, **kwargs: Any) -> str:
            budget = budget_of(context)
            if isinstance(owner, Markup):
                formatter = _EscapeFormatter(env, budget, escape=owner.escape)
            else:
                formatter = _Formatter(env, budget)
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return str_type(formatter.vformat(owner, args, kwargs))

        return update_wrapper(wrapper, value)


def _check_str_method(
    budget: Budget, owner: str | bytes, name: str, args: tuple, kwargs: dict
) -> tuple:
    """Refuse str methods that would build too much; the arguments to call them with."""
    if name in _WIDTH_METHODS:
        width = args[0] if args else kwargs.get("width", kwargs.get("tabsize"))
        budget.check_width(f"{name}() width", width)
        if name == "expandtabs" and isinstance(width, int):
            budget.spend(owner.count("\t" if isinstance(owner, str) else b"\t") * width)
    elif name == "join" and args:
        items = list(args[0]) if isinstance(args[0], Iterable) else args[0]
        if isinstance(items, list):
            budget.spend(text_size(items, budget) + len(owner) * len(items))
            args = (items, *args[1:])
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            times = owner.count(old) if old else len(owner) + 1
            budget.spend(times * max(0, len(new) - len(old)))
    return args


_TEXT_ENV = Sandbox(undefined=StrictUndefined, autoescape=False, auto_reload=False)
_HTML_ENV = Sandbox(undefined=StrictUndefined, autoescape=True, auto_reload=False)
# Only payload / subscriber / actor are visible: no range, lipsum, cycler, namespace...
_TEXT_ENV.globals.clear()
_HTML_ENV.globals.clear()


def environment(*, html: bool) -> Sandbox:
    """The sandbox for HTML (autoescaped) or for plain text (subjects, SMS, URLs)."""
    return _HTML_ENV if html else _TEXT_ENV


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compile_template(source: str, html: bool) -> Template:
    """The compiled template for a source (cached: a batch parses each source once).

    Raises TemplateSyntaxError, also for a template nested too deeply to compile.
    """
    try:
        return environment(html=html).from_string(source)
    except TemplateSyntaxError:
        raise
    except (RecursionError, SyntaxError, MemoryError, OverflowError) as exc:
        # Python's own limits on the generated code: nesting (blocks, indentation), size.
        raise TemplateSyntaxError(
            "the template is nested too deeply or too large to compile", lineno=1
        ) from exc


def render_chunks(template: Template, values: dict[str, Any], budget: Budget) -> str:
    """Render a compiled template within a budget, stopping once it is over the output cap."""
    context = template.new_context(values)
    setattr(context, BUDGET_ATTRIBUTE, budget)
    parts: list[str] = []
    append = parts.append
    size, cap = budget.output, budget.output_cap
    try:
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > cap:
                raise budget.output_exceeded()
            append(chunk)
    except Exception:
        template.environment.handle_exception()
    budget.output = size
    return "".join(parts)


__all__ = [
    "MAX_POWER_BITS",
    "MAX_REPEAT_LENGTH",
    "RenderLimitExceeded",
    "SecurityError",
    "Sandbox",
    "compile_template",
    "environment",
    "render_chunks",
]
