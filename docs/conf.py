"""Sphinx configuration of the cogmodels documentation site.

``make docs`` builds it into ``docs/_build/html`` with warnings as errors and runs the tutorials
in ``notebooks/`` in quick mode; ``tests/test_docs_build.py`` builds it without running them.

Three things are generated here on every build (and are not committed):

- ``api/generated/``: one page per module of the package, found from the package list in
  ``pyproject.toml`` (``envs/``, ``agents/`` and ``fits/`` install as ``cogmodels.*``, which
  autosummary's recursive mode cannot see), documenting the names each module defines;
- ``reference/cli.rst``: the ``--help`` of every ``cogmodels`` subcommand, from the parser itself;
- ``tutorials/NN_*.py``: copies of the jupytext tutorials, read by myst-nb through jupytext
  (``make docs`` runs them in quick mode; ``make docs DOCS_EXECUTE=off`` does not).
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import re
import tomllib
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
#: the repository (pyproject.toml, notebooks/); tests/test_docs_build.py builds a copy of docs/ elsewhere
ROOT = Path(os.environ.get("COGMODELS_DOCS_REPO", DOCS.parent)).resolve()

import cogmodels  # noqa: E402  (after the paths above, so a failing import names the package)

project = "cogmodels"
author = "cogmodels developers"
copyright = "cogmodels developers, MIT licence"
release = cogmodels.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

exclude_patterns = ["_build", "conf.py", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".py": "myst-nb"}
root_doc = "index"
nitpicky = False

html_theme = "pydata_sphinx_theme"
html_title = f"cogmodels {release}"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"]
html_css_files = ["cogmodels.css"]
html_show_sourcelink = False

# -- autodoc / numpydoc -------------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True


def _preserve_defaults_tolerating_signatures() -> None:
    """Skip Sphinx's default-preserving step for functions whose ``__signature__`` is assigned.

    The BCI environments take ``**config`` in their source and publish the full keyword
    signature of :func:`cogmodels.envs.bci.loop.make_config` through ``__init__.__signature__``;
    Sphinx's ``update_defvalue`` pairs the source's defaults with that signature's and fails
    ("pop from empty list"). For those the assigned signature already shows the defaults.
    """
    from sphinx.ext.autodoc import preserve_defaults

    original = preserve_defaults.update_defvalue

    @functools.wraps(original)
    def update_defvalue(app, obj, bound_method):
        if getattr(getattr(obj, "__func__", obj), "__signature__", None) is None:
            original(app, obj, bound_method)

    preserve_defaults.update_defvalue = update_defvalue


_preserve_defaults_tolerating_signatures()
autodoc_inherit_docstrings = False  # Gymnasium's own step/reset docstrings are not ours to render
autosummary_generate = False  # the module pages are written below, not by autosummary
numpydoc_show_class_members = False  # autodoc documents the members on the page itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- myst / myst-nb -----------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
# `make docs` runs the tutorials (quick mode, set below); the docs test passes
# -D nb_execution_mode=off so that it checks the build without running them.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True
nb_merge_streams = True

# -- generated sources --------------------------------------------------------------------------
GENERATED = DOCS / "api" / "generated"
TUTORIALS = DOCS / "tutorials"
NOTEBOOKS = ROOT / "notebooks"


def _write(path: Path, text: str) -> None:
    """Write ``text`` only when it changed, so that incremental builds stay incremental."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def package_modules() -> dict[str, Path]:
    """Every public module of the installed package -> its source file, from pyproject.toml."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    dirs = setuptools.get("package-dir", {})

    def folder(package: str) -> Path:
        for prefix in sorted(dirs, key=len, reverse=True):
            if package == prefix or package.startswith(prefix + "."):
                rest = package[len(prefix):].lstrip(".")
                return ROOT / dirs[prefix] / Path(*rest.split(".")) if rest else ROOT / dirs[prefix]
        return ROOT / Path(*package.split("."))

    modules: dict[str, Path] = {}
    for package in setuptools["packages"]:
        where = folder(package)
        modules[package] = where / "__init__.py"
        for path in sorted(where.glob("*.py")):
            if path.name != "__init__.py" and not path.stem.startswith("_"):
                modules[f"{package}.{path.stem}"] = path
    return dict(sorted(modules.items()))


@functools.cache
def _defined_names(path: Path) -> list[str]:
    """Names bound at the top level of a module's source by def, class or assignment."""
    names: list[str] = []
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.Try | ast.If):  # try: ... except ImportError: ..., if TYPE_CHECKING
            body[:0] = [*node.body, *getattr(node, "handlers", ()), *node.orelse]
        elif isinstance(node, ast.ExceptHandler):
            body[:0] = node.body
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def _documented_data(module: str) -> set[str]:
    from sphinx.pycode import ModuleAnalyzer

    try:
        return {name for (scope, name) in ModuleAnalyzer.for_module(module).find_attr_docs() if not scope}
    except Exception:  # noqa: BLE001 - no source: no documented data
        return set()


@functools.cache
def module_members(module: str, path: Path) -> tuple[list[str], list[str]]:
    """(names defined in the module and public there, public names it re-exports from others).

    Public means in ``__all__`` where the module has one; otherwise the functions and classes
    it defines and the data with a ``#:`` comment, none starting with ``_``.
    """
    mod = importlib.import_module(module)
    defined = _defined_names(path)
    public = getattr(mod, "__all__", None)
    if public is not None:
        own = [n for n in public if n in defined]
        reexported = [n for n in public if n not in defined]
        return own, reexported
    documented = _documented_data(module)
    own = []
    for name in dict.fromkeys(defined):
        if name.startswith("_"):
            continue
        obj = getattr(mod, name, None)
        if callable(obj) and getattr(obj, "__module__", None) == module or name in documented:
            own.append(name)
    return own, []


def _canonical(module: str, name: str) -> str:
    """Where a re-exported name is documented: the module that defines it."""
    obj = getattr(importlib.import_module(module), name)
    home = getattr(obj, "__module__", None)
    if isinstance(obj, type) or callable(obj):
        if home and home in _MODULES:
            return f"{home}.{name}"
    for other in _MODULES:  # data: the module whose source binds it
        if other != module and other.startswith("cogmodels") and name in _defined_names(_MODULES[other]):
            if name in module_members(other, _MODULES[other])[0]:
                return f"{other}.{name}"
    return f"{module}.{name}"


def _title(text: str) -> str:
    return f"{text}\n{'=' * len(text)}\n"


def module_page(module: str, path: Path) -> str:
    own, reexported = module_members(module, path)
    children = [
        m for m in _MODULES if m.rpartition(".")[0] == module and m not in TOP_PACKAGES
    ] if path.name == "__init__.py" else []
    lines = [f".. _api-{module}:", "", _title(module), f".. automodule:: {module}", "   :no-members:", ""]
    if reexported:
        lines += [".. rubric:: Public names", "", f"Importable from ``{module}``; documented where they are defined.", "",
                  ".. currentmodule:: None", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   ~{_canonical(module, name)}" for name in reexported]
        lines += ["", f".. currentmodule:: {module}", ""]
    if own:
        lines += [f".. currentmodule:: {module}", ""]
        for name in own:
            lines += [f".. auto{_kind(module, name)}:: {name}", ""]
    if children:
        lines += [".. rubric:: Modules", "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   {child}" for child in children]
        lines.append("")
    return "\n".join(lines)


def _kind(module: str, name: str) -> str:
    obj = getattr(importlib.import_module(module), name)
    if isinstance(obj, type):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj) and hasattr(obj, "__code__"):
        return "function"
    return "data"


#: the packages the API index lists; the others are reached from their parent package's page
TOP_PACKAGES = ("cogmodels", "cogmodels.envs", "cogmodels.agents", "cogmodels.fits")
_MODULES = package_modules()


def write_api_pages() -> None:
    wanted = set()
    for module, path in _MODULES.items():
        target = GENERATED / f"{module}.rst"
        _write(target, module_page(module, path))
        wanted.add(target)
    for stale in GENERATED.glob("*.rst"):
        if stale not in wanted:
            stale.unlink()


def write_cli_page() -> None:
    from cogmodels.cli import build_parser

    parser = build_parser()
    lines = [".. _cli:", "", _title("Command line"),
             "The ``cogmodels`` command is installed with the package. Each subcommand's ``--help``:", ""]

    def block(text: str) -> list[str]:
        return ["::", "", *[f"    {line}" if line else "" for line in text.rstrip().splitlines()], ""]

    parser.prog = "cogmodels"
    lines += block(parser.format_help())
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in sub.choices.items():
        lines += [f"cogmodels {name}", "-" * len(f"cogmodels {name}"), ""]
        lines += block(subparser.format_help())
    _write(DOCS / "reference" / "cli.rst", "\n".join(lines))


def copy_tutorials() -> None:
    wanted = set()
    for nb in sorted(NOTEBOOKS.glob("[0-9]*.py")):
        target = TUTORIALS / nb.name
        _write(target, nb.read_text(encoding="utf-8"))
        wanted.add(target)
    for stale in TUTORIALS.glob("[0-9]*.py"):
        if stale not in wanted:
            stale.unlink()


# numpydoc parses each raw docstring once more for a "Signature" section and warns about the
# section names that _preprocess_docstring (below) renames or turns into rubrics: not a loss.
warnings.filterwarnings("ignore", message="Unknown section", category=UserWarning)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # import-time warnings of the package's dependencies
    write_api_pages()
write_cli_page()
copy_tutorials()


# -- docstring preprocessing --------------------------------------------------------------------
#: numpydoc sections (docscrape); an underlined heading with another name would be dropped
NUMPYDOC_SECTIONS = {
    "Signature", "Summary", "Extended Summary", "Parameters", "Returns", "Yields", "Receives",
    "Raises", "Warns", "Other Parameters", "Attributes", "Methods", "See Also", "Notes",
    "Warnings", "References", "Examples", "Index",
}
#: other names the package's docstrings use for a numpydoc section
SECTION_ALIASES = {"Fitted attributes": "Attributes", "Fitted Attributes": "Attributes"}
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
#: numpydoc sections whose entries read "name : type" and then the description, indented
PARAM_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Returns", "Yields", "Receives"}
_ENTRY = re.compile(r"^(\s*)(\*{0,2}[A-Za-z_][\w.]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w.]*)*) : (.+)$")
_GYM_HEADING = re.compile(r"^(\s*)#{2,3} (\S.*)$")


def _preprocess_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """Make two heading styles of the package render instead of being dropped or run together.

    Gymnasium-style ``## Description`` headings of the environments become rubrics; an
    underlined section whose name numpydoc does not know becomes a rubric too (numpydoc would
    drop it with its content), except the aliases above, renamed to their numpydoc section.
    """
    out: list[str] = []
    section, section_indent = None, ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _GYM_HEADING.match(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if m:
            out += ["", f"{m.group(1)}.. rubric:: {m.group(2).strip()}", ""]
            section = None
        elif line.strip() and _UNDERLINE.match(nxt):
            title = line.strip()
            indent = line[: len(line) - len(line.lstrip())]
            title = SECTION_ALIASES.get(title, title)
            if title in NUMPYDOC_SECTIONS:
                out += [indent + title, indent + "-" * len(title)]
                section, section_indent = title, indent
            else:
                out += ["", f"{indent}.. rubric:: {title}", ""]
                section = None
            i += 1
        elif section in PARAM_SECTIONS and (e := _ENTRY.match(line)) and _is_prose(e.group(3)):
            # "name : what it is, in words" -> the words are the description, not a type
            out += [f"{e.group(1)}{e.group(2)}", f"{e.group(1)}    {e.group(3)}"]
        elif (section in PARAM_SECTIONS and not (out and out[-1].strip()) and "Notes" not in lines
              and _is_paragraph(line, section_indent)):
            # a paragraph after the entries would be read as one more entry: it is a note
            out += [section_indent + "Notes", section_indent + "-----", line]
            section = "Notes"
        else:
            out.append(line)
        i += 1
    lines[:] = out


def _is_paragraph(line: str, indent: str) -> bool:
    """Return whether a line at the entries' indentation is a sentence, not "name" or "name : type"."""
    if not line.startswith(indent) or line[len(indent):len(indent) + 1].isspace() or not line.strip():
        return False
    text = line.strip()
    return not _ENTRY.match(line) and not re.fullmatch(r"\*{0,2}[\w.]+(\s*,\s*\*{0,2}[\w.]+)*", text)


def _is_prose(text: str) -> bool:
    """Whether the text after "name : " is a description rather than a type."""
    words = text.split()
    return len(words) > 4 or text.rstrip().endswith((".", ":", ";")) or "``" in text


def _set_up_tutorial_runs(app, config) -> None:
    """Run the tutorials in quick mode (the kernels inherit this environment).

    Each runs in a temporary folder (``nb_execution_in_temp``) and writes its figures to
    ``output/`` there, as in Jupyter; ``Tutorial.save`` also shows them in the page.
    ``COGMODELS_QUICK=0 make docs`` runs the full sizes.
    """
    if config.nb_execution_mode == "off":
        return
    os.environ.setdefault("COGMODELS_QUICK", "1")
    os.environ.pop("COGMODELS_NOTEBOOK_OUT", None)


def _drop_object_base(app, name, obj, options, bases: list) -> None:
    """``Bases: object`` says nothing: show the bases of classes that have one."""
    if bases == [object]:
        bases.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _preprocess_docstring, priority=100)  # before numpydoc
    app.connect("config-inited", _set_up_tutorial_runs)
    app.connect("autodoc-process-bases", _drop_object_base)
    return {"parallel_read_safe": True}

