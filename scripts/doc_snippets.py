#!/usr/bin/env python3
"""Runs the shell and Python blocks of the docs against a live mesh, as pasted.

    scripts/doc_snippets.py --bin target/debug/groupcache --venv DIR FILE...

Every ```sh and ```python block of each FILE runs, in order, in one bash
session started in the repository's root (so the README's mesh, started by
its "A 3-node mesh by hand" block, serves every later block; its closing
`kill` runs last). What is swapped, so that a test never collides with
anything else on the machine: the ports 7001-7099 (for free ones), the
binary `target/release/groupcache` (for --bin), `/tmp/gc` (the venv, for
--venv) and `/tmp/gc-files` (for a temporary directory).

What is checked:
- every command exits 0 unless the block shows its exit code (`; echo
  "exit $?"`, checked through its output) or an expected line names an
  error (`# ERROR: ...`, `# NOT_FOUND: ...`);
- a comment line right after a command is output it must print: compared
  with whitespace removed, `...` matching anything, a trailing
  parenthetical `  (like this)` ignored;
- each Python block exits 0.

Skipped: `cargo` and `./scripts/` commands (CI runs those itself), and blocks after a
`<!-- snippet: skip -->` line. Exit 1 listing each failure.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path):
    """(language, text, line) of each fenced block of `path`."""
    out, lang, buf, start, skip_next = [], None, [], 0, False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line.rstrip("\n"))
            if lang is None:
                if line.strip() == "<!-- snippet: skip -->":
                    skip_next = True
                elif m:
                    lang, buf, start = m.group(1), [], n
            elif m and m.group(1) == "":
                if not skip_next:
                    out.append((lang, "".join(buf), start))
                lang, skip_next = None, False
            else:
                buf.append(line)
    return out


def commands(text):
    """(command, [expected lines]) of a shell block: continuation lines
    joined, comment lines after a command taken as its expected output."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("#"):
            if out:
                out[-1][1].append(line.lstrip()[1:].strip())
            i += 1
            continue
        cmd = line
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd + "\n" + lines[i]
        # A `for ...; do` loop runs until its `done`.
        if re.match(r"^\s*(for|while|if)\b", cmd) and not re.search(r"\b(done|fi)\b", cmd):
            while i + 1 < len(lines):
                i += 1
                cmd += "\n" + lines[i]
                if re.match(r"^\s*(done|fi)\b", lines[i]):
                    break
        out.append((cmd, []))
        i += 1
    return out


def squash(s):
    return re.sub(r"\s+", "", s)


def matches(expected, output):
    """Whether `output` shows `expected` (see the module docs)."""
    expected = re.sub(r"\s{2,}\(.*\)\s*$", "", expected)
    parts = [squash(p) for p in expected.split("...")]
    at, text = 0, squash(output)
    for p in parts:
        if not p:
            continue
        found = text.find(p, at)
        if found < 0:
            return False
        at = found + len(p)
    return True


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="gc-doc-snippets-")
    subs = [
        ("target/release/groupcache", os.path.abspath(args.bin)),
        ("/tmp/gc/", os.path.abspath(args.venv) + "/"),
        ("/tmp/gc &&", os.path.abspath(args.venv) + " &&"),
        ("/tmp/gc-files", os.path.join(work, "files")),
        ("/tmp/gc-", os.path.join(work, "gc-")),
    ]
    # Ports 7001-7099, each to a free one (the same one everywhere).
    ports = dict(zip(range(7001, 7100), free_ports(99)))

    # One pass, longest first: a replacement is never replaced again.
    table = dict(subs)
    alternatives = [re.escape(a) for a in sorted(table, key=len, reverse=True)]
    pattern = re.compile("|".join(alternatives + [r"(?<![\d.])70(?:0[1-9]|[1-9]\d)(?!\d)"]))

    def swap(text):
        return pattern.sub(lambda m: table.get(m.group(0)) or str(ports[int(m.group(0))]), text)

    steps, last = [], []  # (kind, file, line, command, expected)
    for path in args.files:
        for lang, text, line in blocks(path):
            where = f"{path}:{line}"
            if lang == "python":
                steps.append(("python", where, swap(text), []))
            elif lang == "sh":
                for cmd, expected in commands(text):
                    if cmd.lstrip().startswith(("cargo ", "./scripts/")):
                        continue
                    # The README mesh's `kill %1 %2 %3` ends the session.
                    target = last if cmd.lstrip().startswith("kill %") else steps
                    target.append(("sh", where, swap(cmd), expected))
    steps += last

    # Whatever a failed run leaves in the background (the mesh) is ended,
    # by the shell that started it, by its own job ids.
    script = ["trap 'kill $(jobs -p) 2>/dev/null' EXIT", "cd " + repr(os.getcwd()), "export PATH=" + repr(os.path.abspath(args.venv) + "/bin") + ":$PATH"]
    for n, (kind, where, cmd, _) in enumerate(steps):
        out = os.path.join(work, f"out-{n}")
        if kind == "python":
            src = os.path.join(work, f"snippet-{n}.py")
            with open(src, "w") as f:
                f.write(cmd)
            cmd = f"{os.path.abspath(args.venv)}/bin/python {src}"
        script.append(f"{{\n{cmd}\n}} >{out} 2>&1 </dev/null; echo \"@@ {n} $?\"")
    runner = os.path.join(work, "run.sh")
    with open(runner, "w") as f:
        f.write("\n".join(script) + "\n")
    try:
        done = subprocess.run(["bash", runner], capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"doc snippets: no end within {args.timeout} s; outputs in {work}")
        return 1
    codes = dict(
        (int(m.group(1)), int(m.group(2))) for m in re.finditer(r"^@@ (\d+) (\d+)$", done.stdout, re.M)
    )
    failures = []
    for n, (kind, where, cmd, expected) in enumerate(steps):
        out = open(os.path.join(work, f"out-{n}"), errors="replace").read() if n in codes else ""
        first = cmd.strip().splitlines()[0][:100] if cmd.strip() else kind
        if n not in codes:
            failures.append(f"{where}: `{first}` did not run")
            continue
        shows_error = any(
            re.match(r"^(ERROR|[A-Z_]{6,}:)", e) or e.startswith("exit ") for e in expected
        ) or 'echo "exit $?"' in cmd
        if codes[n] != 0 and not shows_error:
            failures.append(f"{where}: `{first}` exited {codes[n]}:\n{out[-1500:]}")
        for e in expected:
            if not matches(e, out):
                failures.append(f"{where}: `{first}` did not print {e!r}; it printed:\n{out[-1500:]}")
    ran = len(steps)
    if failures:
        print(f"doc snippets: {len(failures)} of {ran} steps failed (outputs in {work}):")
        for f in failures:
            print("- " + f)
        return 1
    print(f"doc snippets: {ran} steps from {', '.join(args.files)} ran as documented")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
