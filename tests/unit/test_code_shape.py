"""The shape of the code in services/ (issue 14, "One vocabulary, one kit"):
no function longer than MAX_FUNCTION_LINES lines of code, no file longer
than MAX_FILE_LINES lines.

A function's lines of code are the lines from its `def` to its end that are
not blank, not comment-only and not part of its own docstring (the lines of
a function nested in it count for both). A file's length is all its lines.
A function whose body is a data table, not logic, may be named in
DATA_TABLES with the reason it is one."""
import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
MAX_FUNCTION_LINES = 40
MAX_FILE_LINES = 400

# "path/relative/to/services.py:function": why its length is data, not logic
DATA_TABLES: dict[str, str] = {}


def docstring_lines(node):
    """The line numbers of the docstring of a function (empty if it has none)."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return set(range(body[0].lineno, body[0].end_lineno + 1))
    return set()


def code_lines(lines, node):
    """How many lines of `node` hold code (see the module's docstring)."""
    skipped = docstring_lines(node)
    return sum(1 for number in range(node.lineno, node.end_lineno + 1)
               if number not in skipped
               and lines[number - 1].strip()
               and not lines[number - 1].strip().startswith("#"))


def python_files():
    return sorted(SERVICES.rglob("*.py"))


def long_functions(path):
    """(name, first line, lines of code) of each function of `path` over the limit."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            count = code_lines(lines, node)
            if count > MAX_FUNCTION_LINES:
                found.append((node.name, node.lineno, count))
    return found


def where(path):
    return path.relative_to(SERVICES).as_posix()


def test_the_services_have_python_files():
    assert len(python_files()) > 10, SERVICES


def test_no_function_is_longer_than_the_limit():
    offenders = [f"services/{where(path)}:{line} {name}: {count} lines of code"
                 for path in python_files()
                 for name, line, count in long_functions(path)
                 if f"{where(path)}:{name}" not in DATA_TABLES]
    assert not offenders, (f"functions over {MAX_FUNCTION_LINES} lines of code "
                           "(split them into named steps):\n" + "\n".join(offenders))


def test_no_file_is_longer_than_the_limit():
    offenders = [f"services/{where(path)}: {length} lines"
                 for path in python_files()
                 if (length := len(path.read_text().splitlines())) > MAX_FILE_LINES]
    assert not offenders, f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(offenders)


def test_each_data_table_exception_names_a_function_that_exists():
    """An allow-list entry whose function is gone or renamed goes with it."""
    for entry in DATA_TABLES:
        relative, _, name = entry.partition(":")
        path = SERVICES / relative
        assert path.is_file(), entry
        names = {node.name for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert name in names, entry
