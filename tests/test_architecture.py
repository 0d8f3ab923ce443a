"""The arrows the import contracts cannot check (import-linter reads packages, not single
modules), and a rule they do not know: no module uses another package's private names."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "agents", "channels", "db", "evals", "jobs", "llm", "memory", "ml", "prompts", "speech",
    "tools", "vision",
}  # fmt: skip
MODULES = {
    "cli", "errors", "graph", "messages", "phrases", "runtime", "server", "settings", "worker",
}  # fmt: skip
OURS = PACKAGES | MODULES
BELOW_GRAPH = {"agents", "tools", "memory", "speech", "vision", "ml", "llm", "db", "prompts"}
FOUNDATIONS = {"messages", "settings", "errors", "phrases"}
# What each top-level module may import of ours (lazy imports inside functions included).
ALLOWED = {
    "messages": set(),
    "settings": set(),
    "errors": set(),
    "phrases": set(),
    "graph": BELOW_GRAPH | FOUNDATIONS,
    "runtime": OURS - {"server", "worker", "cli", "evals"},
    "server": OURS - {"worker", "cli", "evals"},
    "worker": OURS - {"server", "cli", "evals"},
    "cli": OURS - {"server"},
}


def sources() -> list[Path]:
    files = [ROOT / f"{module}.py" for module in MODULES]
    for package in PACKAGES:
        files += (ROOT / package).rglob("*.py")
    return files


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & OURS


def test_top_level_modules_import_only_what_is_below_them():
    wrong = {}
    for module, allowed in ALLOWED.items():
        tree = ast.parse((ROOT / f"{module}.py").read_text())
        if extra := imported(tree) - allowed - {module}:
            wrong[module] = sorted(extra)
    assert not wrong, f"back-arrows from top-level modules: {wrong}"


def test_no_module_uses_another_packages_private_names():
    found = []
    for path in sources():
        home = path.relative_to(ROOT).parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        modules = {}  # local name -> the module of ours it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top in OURS and top != home:
                    found += [
                        f"{path.name}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                    ]
                    modules |= {alias.asname or alias.name: top for alias in node.names}
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in OURS:
                        modules[alias.asname or alias.name.split(".")[0]] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and modules[node.value.id].split(".")[0] != home
            ):
                found.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert not found, f"private names used across packages: {found}"
