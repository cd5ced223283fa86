"""The one parameter check: every value given to a notebook against its parameters cell, before it runs."""

from __future__ import annotations

import ast
import io
import json
import math
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from quickdraw_cnn.errors import ParameterError

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
BOUNDS = [
    (re.compile(rf"\(({NUMBER}) to ({NUMBER})\)\s*$"), lambda m: (float(m[1]), float(m[2]))),
    (re.compile(rf"\(at least ({NUMBER})\)\s*$"), lambda m: (float(m[1]), None)),
    (re.compile(rf"\(at most ({NUMBER})\)\s*$"), lambda m: (None, float(m[1]))),
]


@dataclass(frozen=True)
class Declared:
    """A parameter as its notebook declares it: default literal, comment and bounds (None where none).

    Used by declared and check.
    """

    name: str
    default: object
    comment: str
    low: float | None = None
    high: float | None = None

    def rule(self):
        """The declared type and bounds in words, e.g. "a whole number from 1 to 1000".

        Used by check's messages.
        """
        each = isinstance(self.default, (list, tuple)) and (self.low, self.high) != (None, None)
        kind = _kind(self.default) + (", each" if each else "")
        if self.low is not None and self.high is not None:
            return f"{kind} from {_number(self.low)} to {_number(self.high)}"
        if self.low is not None:
            return f"{kind} at least {_number(self.low)}"
        if self.high is not None:
            return f"{kind} at most {_number(self.high)}"
        return kind


def declared(path):
    """``{name: Declared}`` for each literal of the notebook's ``parameters``-tagged cell.

    Used by check, the series runner and tests/test_parameters.py.
    """
    path = Path(path)
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return {}
    source = "".join(tagged[0]["source"]) if isinstance(tagged[0]["source"], list) else tagged[0]["source"]
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    found = {}
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError(
                f"{path.name}: its parameters cell holds `{ast.unparse(node)}`: "
                "write one `name = literal` a line"
            )
        name, comment = node.targets[0].id, comments.get(node.end_lineno, "")
        try:
            default = ast.literal_eval(node.value)
        except ValueError as error:
            raise ParameterError(f"{path.name}: {name} is not a literal ({error}): give a literal") from error
        bounds = (read(m) for pattern, read in BOUNDS if (m := pattern.search(comment)))
        low, high = next(bounds, (None, None))
        found[name] = Declared(name, default, comment, low, high)
    return found


def check(path, params):
    """Refuse, before the notebook at ``path`` runs, any value of ``params`` that its parameters cell rules
    out: another type than the default's literal, a number not finite or out of bounds, unknown categories.

    Used by the series runner (once per notebook, before it runs) and tests/test_parameters.py.
    """
    path = Path(path)
    rules = declared(path)
    problems = [
        problem for name, value in params.items() if name in rules for problem in _faults(rules[name], value)
    ]
    if problems:
        raise ParameterError(f"{path.name}: " + "; ".join(problems))


def _faults(rule, value):
    """What is wrong with ``value`` for ``rule``, as sentences (none if it is fine)."""
    name, default = rule.name, rule.default
    shown = f"{name} = {value!r:.80}"
    if not _same_type(value, default):
        return [f"{shown} is not {_kind(default)} (its default is {default!r:.60}): give {rule.rule()}"]
    values = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(default, (list, tuple)) and default and not value:
        return [f"{name} = [] is empty: give {rule.rule()} (its default is {default!r:.60})"]
    for v in (v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)):
        if isinstance(v, float) and not math.isfinite(v):
            return [f"{shown} holds {v}, not a finite number: give {rule.rule()}"]
        if (rule.low is not None and v < rule.low) or (rule.high is not None and v > rule.high):
            return [f"{shown} is outside its rule: give {rule.rule()}"]
    if isinstance(value, (list, tuple)) and (name == "classes" or name.endswith("categories")):
        from quickdraw_cnn.data import check_categories

        try:
            check_categories(list(value))
        except ValueError as error:  # ParameterError is one
            return [f"{shown}: {error}"]
    return []


def _same_type(value, default):
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple)) and (
            not default or all(_same_type(v, default[0]) for v in value)
        )
    return True


def _kind(value):
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)) and value:
        return "a list of " + {"True or False": "True or False values", "text": "names"}.get(
            _kind(value[0]), _kind(value[0]).removeprefix("a ") + "s"
        )
    return type(value).__name__


def _number(x):
    return f"{x:g}"
