"""Read prompt texts out of the authors' Python files without running them: module string constants, the string a
function returns in each branch, f-string layouts turned into ``str.format`` templates, a constructor's literal
arguments. The files are parsed (``ast``), never imported or executed.

An f-string becomes a template by this rule: a module (or function-local) string constant it names is put in as
text, ``self.x`` and any other name become the field ``{x}``, and literal braces are doubled, so that
``template.format(x=...)`` gives exactly what the authors' code builds.

Example:
    >>> source = 'A = "Hi {{x}}"\\nclass C:\\n    def f(self, y):\\n        return f"{A}: {self.name} {y}"\\n'
    >>> module_strings(source)
    {'A': 'Hi {{x}}'}
    >>> method_returns(source, "C.f")
    ['Hi {{{{x}}}}: {name} {y}']
    >>> method_returns(source, "C.f")[0].format(name="Ann", y=3)
    'Hi {{x}}: Ann 3'
"""

from __future__ import annotations

import ast

from mirror_hf.errors import MirrorError


class SourceShapeError(MirrorError):
    """The authors' file no longer has the shape mirror-hf reads (a changed file: the digests guard against it)."""


def _tree(source: str) -> ast.Module:
    return ast.parse(source)


def module_strings(source: str) -> dict[str, str]:
    """``NAME = "..."`` at module level (implicit concatenation included), by name."""
    out = {}
    for node in _tree(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _find_function(tree: ast.Module, qualname: str) -> ast.FunctionDef:
    scope: list = tree.body
    parts = qualname.split(".")
    for depth, part in enumerate(parts):
        found = next(
            (n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part),
            None,
        )
        if found is None:
            raise SourceShapeError(f"no {'.'.join(parts[: depth + 1])} in the authors' file")
        scope = found.body
    if not isinstance(found, ast.FunctionDef):
        raise SourceShapeError(f"{qualname} is not a function")
    return found


def _template(node: ast.AST, constants: dict[str, str], local: dict[str, str]) -> str:
    """A format template of a string expression: constants inlined, names and ``self.x`` as fields."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_template(value, constants, local) for value in node.values)
    if isinstance(node, ast.FormattedValue):
        if node.conversion != -1 or node.format_spec is not None:
            raise SourceShapeError("a formatted value with a conversion or format spec")
        return _template(node.value, constants, local)
    if isinstance(node, ast.Name):
        if node.id in local:
            return local[node.id]
        if node.id in constants:
            return _escape(constants[node.id])
        return "{" + node.id + "}"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return "{" + node.attr + "}"
    if (  # ''.join([...])
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and len(node.args) == 1
        and isinstance(node.args[0], (ast.List, ast.Tuple))
    ):
        joiner = _escape(node.func.value.value)
        return joiner.join(_template(item, constants, local) for item in node.args[0].elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _template(node.left, constants, local) + _template(node.right, constants, local)
    raise SourceShapeError(f"cannot read a {type(node).__name__} as text (line {getattr(node, 'lineno', '?')})")


def _local_strings(function: ast.FunctionDef, constants: dict[str, str]) -> dict[str, str]:
    """Templates of the function's ``name = <string expression>`` assignments (other assignments are fields)."""
    local: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                local[node.targets[0].id] = _template(node.value, constants, local)
            except SourceShapeError:
                continue  # e.g. history = self._get_history_text(...): a field
    return local


def method_returns(source: str, qualname: str) -> list[str]:
    """The template of each ``return`` of ``qualname`` (``Class.method`` or ``function``), in source order."""
    tree = _tree(source)
    constants = module_strings(source)
    function = _find_function(tree, qualname)
    local = _local_strings(function, constants)
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        raise SourceShapeError(f"{qualname} returns nothing")
    return [_template(r.value, constants, local) for r in sorted(returns, key=lambda n: n.lineno)]


def branch_strings(source: str, qualname: str) -> dict[str, str]:
    """``if "KEY" in x: return "TEXT"`` / ``elif ...`` chains of ``qualname``: KEY -> TEXT."""
    function = _find_function(_tree(source), qualname)
    out = {}
    for node in ast.walk(function):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Constant)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In)
            and node.body
            and isinstance(node.body[0], ast.Return)
            and isinstance(node.body[0].value, ast.Constant)
        ):
            out[test.left.value] = node.body[0].value.value
    if not out:
        raise SourceShapeError(f'{qualname} has no \'if "..." in x: return "..."\' branches')
    return out


def formatted_string(source: str, qualname: str, target: str) -> str:
    """The string ``S`` of the first ``target = S.format(...)`` in ``qualname`` (a ``str.format`` template)."""
    function = _find_function(_tree(source), qualname)
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == target for t in node.targets)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "format"
            and isinstance(node.value.func.value, ast.Constant)
        ):
            return node.value.func.value.value
    raise SourceShapeError(f"no '{target} = \"...\".format(...)' in {qualname}")


def module_literal(source: str, name: str):
    """The value of the module-level ``name = <literal>`` (a list of dicts, ...), read with ``ast.literal_eval``."""
    for node in _tree(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise SourceShapeError(f"{name} is not a literal in the authors' file") from None
    raise SourceShapeError(f"no module-level {name} in the authors' file")


def message_literals(source: str, qualname: str) -> list[dict[str, str]]:
    """The ``{"role": "...", "content": "..."}`` literals written in ``qualname``, in source order (a one-shot
    example's answer, say); messages whose content is computed are left out."""
    function = _find_function(_tree(source), qualname)
    out = []
    for node in ast.walk(function):
        if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
            keys = [k.value for k in node.keys]
            values = dict(zip(keys, node.values, strict=True))
            if {"role", "content"} <= set(keys) and all(
                isinstance(values[k], ast.Constant) for k in ("role", "content")
            ):
                out.append({"role": values["role"].value, "content": values["content"].value, "line": node.lineno})
    return [{k: v for k, v in m.items() if k != "line"} for m in sorted(out, key=lambda m: m["line"])]


def call_arguments(source: str, name: str) -> dict[str, object]:
    """The keyword arguments of the module-level ``name = Callable(k=..., ...)``: literals as values, anything else
    (``SeparatorStyle.TWO``) as its source text."""
    for node in _tree(source).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            out: dict[str, object] = {}
            for keyword in node.value.keywords:
                try:
                    out[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    out[keyword.arg] = ast.unparse(keyword.value)
            return out
    raise SourceShapeError(f"no module-level '{name} = ...(...)' in the authors' file")
