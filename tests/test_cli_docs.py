"""The docs of the command line: docs/check.md says what ``applies`` returns, the levels of evidence are defined once
(docs/evidence.md) and linked from the README and docs/check.md, and the README documents every flag of ufm solve."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_say_what_applies_returns_and_link_the_levels_of_evidence():
    from ufm.certificates import LEVELS

    check_md = (ROOT / "docs" / "check.md").read_text()
    assert "(bool, reason)" in check_md and "evidence.md" in check_md
    assert "docs/evidence.md" in (ROOT / "README.md").read_text()
    evidence = (ROOT / "docs" / "evidence.md").read_text()
    for level in LEVELS:
        assert f"**{level}**" in evidence
    for phrase in ("1e-8", "relative gap", "starts", "never certified"):
        assert phrase in evidence


def test_readme_command_line_section_documents_every_solve_flag():
    from ufm.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Command line"):readme.index("## Sweeps")]
    solve = build_parser()._subparsers._group_actions[0].choices["solve"]
    flags = [s for a in solve._actions for s in a.option_strings if s.startswith("--") and s != "--help"]
    missing = [f for f in flags if f not in section and not f.startswith("--mixup") and f != "--no-mixup-original"]
    assert not missing, missing
