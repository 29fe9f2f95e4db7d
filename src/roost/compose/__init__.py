"""`roost import`: a docker-compose file becomes a roost spec, with a report of everything not carried over.

Pure code: text in, text and a report out. The CLI reads the files and prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from roost.compose.convert import Converter, Options
from roost.compose.load import load_compose
from roost.compose.report import SHELL, Report
from roost.errors import SpecError, UsageError


@dataclass
class Imported:
    spec: str  # TOML text
    report: Report
    name: str


def import_compose(text: str, source: str, env: Mapping[str, str], opts: Options | None = None) -> Imported:
    """Convert compose `text` (named `source` in messages) using `env` for interpolation
    (the caller merges the process environment and the .env / --env-file values)."""
    from roost.compose.write import render
    from roost.spec.load import parse_spec

    opts = opts or Options()
    if not opts.env:
        opts = replace(opts, env=dict(env))
    report = Report(source)
    unset: dict[str, int] = {}
    from_shell: dict[tuple[str, int], None] = {}

    def note_unset(name: str, line: int) -> None:
        unset.setdefault(name, line)

    def note_used(name: str, line: int) -> None:
        if name in opts.shell:
            from_shell[(name, line)] = None

    tree = load_compose(text, source, env, note_unset, note_used)
    for name, line in unset.items():
        report.add("approximated", line, "(interpolation)", f"${{{name}}} is not set: an empty string was used",
                   f"set {name} in the environment, the project's .env or --env-file and import again")
    converter = Converter(tree, source, opts, report)
    draft = converter.run()
    for name, line in [*from_shell, *converter.from_shell]:
        report.add("review", line, SHELL, f"${{{name}}}: the value comes from the environment of the shell that ran "
                   "the import", "check that it belongs in the spec (--strict refuses this)")
    spec_text = render(draft)
    try:
        parse_spec(spec_text, f"{draft.name}.toml")
    except SpecError as e:  # a converter bug: never hand out a spec roost itself refuses
        raise UsageError(f"the imported spec does not pass roost's checks:\n{e.render()}",
                         "please report this with the compose file") from None
    return Imported(spec_text, report, draft.name)
