"""The layering of ufm (docs/architecture.md): no import cycle between the modules of ``ufm/`` (function-local
imports included) and no module using another module's private names."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ufm", "proofs_check")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(package: str) -> dict:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def resolve(name: str, known: set) -> str:
    """The longest known module prefix of a dotted name (``ufm.theory.PREDICTIONS`` -> ``ufm.theory``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in known:
            return cand
    return ""


def imports(path: Path, me: str, known: set) -> list:
    """(imported module, imported names, line) of every import of the file, at any depth."""
    tree = ast.parse(path.read_text())
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name, known)
                if target:
                    out.append((target, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:  # `from ufm import losses`: the submodule itself
                    out.append((full, [], node.lineno))
                else:
                    target = resolve(base, known)
                    if target:
                        out.append((target, [alias.name], node.lineno))
    return out


def graph(package: str) -> tuple[dict, dict]:
    mods = modules(package)
    known = set(mods) | set(modules("ufm")) | set(modules("proofs_check"))
    edges, private = {}, []
    for name, path in mods.items():
        deps = set()
        if path.name == "__init__.py" and "pkgutil.iter_modules" in path.read_text():
            # discovery (importlib over pkgutil.iter_modules(__path__)): an import of every direct submodule
            deps |= {m for m in mods if m.startswith(name + ".") and m.count(".") == name.count(".") + 1
                     and not m.rsplit(".", 1)[1].startswith("_") and m.rsplit(".", 1)[1] != "base"}
        for target, names, line in imports(path, name, known):
            if target == name:
                continue
            deps.add(target)
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    private.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{n}")
        edges[name] = deps
    return edges, private


def find_cycle(edges: dict):
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt in edges:
                if state.get(nxt) == 1:
                    return stack[stack.index(nxt):] + [nxt]
                if state.get(nxt) is None:
                    found = visit(nxt)
                    if found:
                        return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    edges, _ = graph(package)
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_a_private_name_of_another(package):
    _, private = graph(package)
    assert not private, "\n".join(private)


def test_no_private_attribute_of_another_module_is_used():
    """``module._name`` where ``module`` is an imported ufm module (e.g. ``solver._check_init``)."""
    bad = []
    for package in PACKAGES:
        mods = modules(package)
        known = set(modules("ufm")) | set(modules("proofs_check"))
        for name, path in mods.items():
            tree = ast.parse(path.read_text())
            aliases = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in known | {"ufm", "ufm.theory", "ufm.plot"}:
                    for a in node.names:
                        if f"{node.module}.{a.name}" in known:
                            aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name in known and a.asname:
                            aliases[a.asname] = a.name
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in aliases and node.attr.startswith("_")
                        and not node.attr.startswith("__") and aliases[node.value.id] != name):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_the_checker_finds_a_cycle():
    """The cycle finder is not vacuous."""
    assert find_cycle({"ufm.a": {"ufm.b"}, "ufm.b": {"ufm.c"}, "ufm.c": {"ufm.a"}}) == ["ufm.a", "ufm.b", "ufm.c",
                                                                                          "ufm.a"]
    assert find_cycle({"ufm.a": {"ufm.b"}, "ufm.b": set()}) is None


#: the measuring layer (docs/architecture.md) and what it may import: the layers below it
MEASURING = ("ufm.metrics", "ufm.parity", "ufm.streaming")
BELOW_MEASURING = ("ufm.errors", "ufm.scalar", "ufm.losses", "ufm.geometry", "ufm.hypotheses", "ufm.problem",
                   "ufm.mixup", "ufm.limits", "ufm.forward", "ufm.objective", "ufm._precision", "ufm._cache")


def test_the_measuring_layer_imports_nothing_above_it():
    edges, _ = graph("ufm")
    bad = {m: sorted(d for d in edges[m] if d not in MEASURING + BELOW_MEASURING + ("ufm",)) for m in MEASURING}
    assert not any(bad.values()), bad


#: the federated layer and the other models (docs/architecture.md): above solving and measuring, below theory,
#: batches and faces
FEDERATED = ("ufm.federated", "ufm.contrastive")
ABOVE_FEDERATED = ("ufm.theory", "ufm.zoo", "ufm.sweep", "ufm.plot", "ufm.cli", "proofs_check")


def test_the_federated_layer_imports_nothing_above_it():
    edges, _ = graph("ufm")
    bad = {m: sorted(d for d in edges[m] if d.startswith(ABOVE_FEDERATED)) for m in FEDERATED}
    assert not any(bad.values()), bad
