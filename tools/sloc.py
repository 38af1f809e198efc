"""Size of a baked project's library: SLOC, modules, functions, the longest functions.

SLOC are the lines of code that are not blank, not a comment and not part of a
docstring (module, class or function). The library is ``src/`` without ``src/tests``.
A function's length is its physical lines, ``def`` to last line, docstring included
(nested functions count in their parent too).

    python tools/sloc.py <baked project>            # summary and the ten longest functions
    python tools/sloc.py <baked project> --json     # the same as JSON (what the tests read)
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import tokenize
from pathlib import Path


def docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers taken by module, class and function docstrings."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    lines.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    return lines


def code_lines(source: str) -> set[int]:
    """Line numbers holding at least one token that is not a comment (docstrings included)."""
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER, tokenize.ENCODING}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def measure_file(path: Path) -> tuple[int, list[tuple[str, int]]]:
    """SLOC of one file and ``(qualified name, physical lines)`` of each function in it."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    sloc_lines = code_lines(source) - docstring_lines(tree)
    functions = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            functions.append((f"{path.name}:{node.lineno}:{node.name}", length))
    return len(sloc_lines), functions


def measure(project: Path) -> dict:
    """SLOC, module and function counts of ``project/src`` without its tests."""
    src = project / "src"
    files = sorted(p for p in src.rglob("*.py") if "tests" not in p.relative_to(src).parts)
    total, functions, per_module = 0, [], {}
    for path in files:
        sloc, funcs = measure_file(path)
        total += sloc
        per_module[str(path.relative_to(src))] = sloc
        functions += [(f"{path.relative_to(src).parent}/{name}", n) for name, n in funcs]
    functions.sort(key=lambda item: -item[1])
    return {
        "sloc": total,
        "modules": len(files),
        "functions": len(functions),
        "longest_functions": functions[:10],
        "functions_over_50": [f for f in functions if f[1] > 50],
        "per_module": per_module,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.project)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['sloc']} SLOC in {result['modules']} modules, "
          f"{result['functions']} functions, {len(result['functions_over_50'])} over 50 lines")
    for name, sloc in sorted(result["per_module"].items(), key=lambda kv: -kv[1]):
        print(f"  {sloc:5d}  {name}")
    print("Longest functions:")
    for name, sloc in result["longest_functions"]:
        print(f"  {sloc:5d}  {name}")


if __name__ == "__main__":
    main()
