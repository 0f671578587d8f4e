#!/usr/bin/python3
"""The image's runtime stage installs every shared library the binaries need.

For each built binary that goes into the image (xd-<service>, xdctl, xd-health), takes
the libraries the dynamic loader resolves (ldd on this Debian 12 build host, the same
distribution as the image), maps each to its Debian package (dpkg -S), and asserts the
package is in the Containerfile's runtime `apt-get install` list or is a package every
Debian base has (Priority: required, e.g. libc6). Sanitizer runtimes of an ASan build
(libasan, libubsan) are not part of a Release image and are skipped.
"""
import functools
import glob
import os
import re
import subprocess
import sys

SRC = os.environ["XD_SOURCE_DIR"]
BIN = os.environ["XD_BINARY_DIR"]
SANITIZER = re.compile(r"lib(asan|ubsan|tsan|lsan)\.so")


def runtime_packages():
    with open(os.path.join(SRC, "deploy", "Containerfile")) as f:
        text = f.read()
    runtime = text[text.rindex("AS runtime"):]
    m = re.search(r"apt-get install[^\n]*\\\n((?:\s+[^\n]*\\\n)+)", runtime)
    if not m:
        sys.exit("FAIL: no apt-get install list in the runtime stage")
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", m.group(1).replace("\\", " ")))


@functools.lru_cache(maxsize=None)
def ldd(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    return tuple(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))


def closure(binary):
    """Libraries binary loads, without sanitizer runtimes and what only they pull in."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                         check=True).stdout
    resolved = dict(ldd(binary))
    todo = [resolved[n] for n in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)
            if n in resolved and not SANITIZER.search(n)]
    seen = set()
    while todo:
        lib = todo.pop()
        if lib in seen:
            continue
        seen.add(lib)
        todo += [p for n, p in ldd(lib) if not SANITIZER.search(n)]
    return seen


@functools.lru_cache(maxsize=None)
def package_of(path):
    real = os.path.realpath(path)
    for p in (path, real, real.replace("/usr/lib/", "/lib/", 1)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


def depends_closure(packages):
    """Every package the given ones depend on, transitively (installed Depends fields)."""
    seen, todo = set(), list(packages)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Depends},${Pre-Depends}", pkg],
                           capture_output=True, text=True)
        for alt in r.stdout.split(","):
            name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name:
                todo.append(name)
    return seen


def required(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Priority}", pkg],
                       capture_output=True, text=True)
    return r.stdout.strip() == "required"


def main():
    binaries = [p for p in glob.glob(os.path.join(BIN, "services", "*", "*"))
                if re.search(r"/(xd-[a-z]+|xdctl)$", p) and os.access(p, os.X_OK)]
    binaries += glob.glob(os.path.join(BIN, "tests", "integration", "deploy", "xd-health"))
    if not binaries:
        sys.exit("FAIL: no binaries under " + BIN)
    listed = runtime_packages()
    failures = []
    needed = {}
    for b in binaries:
        for path in closure(b):
            pkg = package_of(path)
            if pkg is None:
                failures.append(f"{os.path.basename(b)}: {path} belongs to no package")
                continue
            needed.setdefault(pkg.split(",")[0], set()).add(os.path.basename(b))
    pulled = None
    for pkg, users in sorted(needed.items()):
        base = pkg.split(":")[0]
        if base in listed or required(base):
            continue
        # A library another listed package pulls in (libmbedtls for libnng1) is fine.
        if pulled is None:
            pulled = depends_closure(listed)
        if base in pulled:
            continue
        failures.append(f"package {base} (needed by {sorted(users)}) is not installed by the "
                        f"runtime stage")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(binaries)} binaries need {sorted(needed)}; runtime stage lists "
          f"{sorted(listed)}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
