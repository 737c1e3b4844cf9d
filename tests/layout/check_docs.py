#!/usr/bin/python3
"""Keep the documentation consistent with the code (issue #15):
- every subcommand of `brainsweep --help` is documented in docs/commands.md as `brainsweep <name>`,
  and every option of `brainsweep <name> --help` appears there (extract's in docs/extraction.md too);
- every key that the YAML readers accept (the `check_keys(...)` calls of src/config/sweep.cpp,
  src/config/dataset.cpp and src/features/extract_config.cpp) appears in code format in the
  reference page of that file;
- every relative link of README.md and docs/*.md resolves to a file;
- README.md has at most 250 lines.
Exit 0, or 1 listing every problem.

Usage: check_docs.py REPO_ROOT BRAINSWEEP_BINARY
"""
import re
import subprocess
import sys
from pathlib import Path

README_MAX_LINES = 250
# reader source → the pages that document its keys
KEY_PAGES = {
    "src/config/sweep.cpp": ["docs/sweep-reference.md"],
    "src/config/dataset.cpp": ["docs/sweep-reference.md"],
    "src/features/extract_config.cpp": ["docs/extraction.md"],
}
CHECK_KEYS = re.compile(r'check_keys\(\s*path\s*,\s*[^,]+,\s*("[^"]*"|[A-Za-z_]+)\s*,\s*\{([^}]*)\}\s*\)', re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def code_spans(text):
    """Text inside `code` spans and ``` blocks."""
    blocks = re.findall(r"```.*?```", text, re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


def help_text(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def main():
    root, binary = Path(sys.argv[1]), sys.argv[2]
    problems = []

    readme = (root / "README.md").read_text()
    n = readme.count("\n")
    if n > README_MAX_LINES:
        problems.append(f"README.md: {n} lines, expected at most {README_MAX_LINES} (move details to docs/)")

    pages = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    links = 0
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            links += 1
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                problems.append(f"{page.relative_to(root)}: link '{target}' does not resolve ({path})")

    commands_doc = (root / "docs/commands.md").read_text()
    top = help_text(binary)
    sub = top[top.index("Subcommands:"):]
    names = re.findall(r"^  ([a-z][a-z-]+)\s", sub, re.M)
    if not names:
        problems.append(f"{binary} --help lists no subcommands")
    options = 0
    for name in names:
        if f"brainsweep {name}" not in commands_doc:
            problems.append(f"docs/commands.md: subcommand `brainsweep {name}` is not documented")
        text = commands_doc
        if name == "extract":
            text += (root / "docs/extraction.md").read_text()
        for opt in sorted(set(re.findall(r"(?:^|[ ,])(--[a-z][a-z0-9-]*)", help_text(binary, name), re.M))):
            if opt == "--help":
                continue
            options += 1
            if not re.search(re.escape(opt) + r"(?![a-z0-9-])", text):
                problems.append(f"docs/commands.md: option {opt} of `brainsweep {name}` is not documented")

    keys = 0
    for src, docs in KEY_PAGES.items():
        spans = "\n".join(s for d in docs for s in code_spans((root / d).read_text()))
        for section, body in CHECK_KEYS.findall((root / src).read_text()):
            for key in re.findall(r'"([^"]+)"', body):
                keys += 1
                if not re.search(r"(?<![A-Za-z0-9_])" + re.escape(key) + r"(?![A-Za-z0-9_])", spans):
                    where = section.strip('"') or "top level"
                    problems.append(f"{', '.join(docs)}: key '{key}' ({where}, accepted by {src}) is not documented")

    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"docs consistent: README {n} lines, {links} links resolve, {len(names)} subcommands and {options} "
          f"options in docs/commands.md, {keys} YAML keys in the reference pages")


if __name__ == "__main__":
    main()
