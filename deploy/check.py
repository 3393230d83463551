#!/usr/bin/env python3
"""deploy/check.py — static checks of everything under deploy/ (and docs/operations.md) against
the code, so that images, manifests, dashboards and alerts cannot drift from it.

    python3 deploy/check.py                         # run every check; exit 1 on any problem
    python3 deploy/check.py --write-prometheusrule  # regenerate kubernetes/prometheusrule.yaml

Needs Python 3.9+ and nothing else: YAML is read with PyYAML when it is installed, otherwise
with a small built-in reader for the YAML subset these files use (when PyYAML is present, both
readers must agree on every file, so the subset cannot silently grow past the fallback).

What is checked (each line of output names one check):
  parse        every YAML/JSON file under deploy/ parses (and .env.example is KEY=VALUE)
  compose      variables used by compose.yaml are exactly those of .env.example; bind mounts
               and init scripts exist; build targets exist; healthy-dependencies have checks;
               ports 9464 (worker) and 8787 (emulator); stop grace > shutdown grace
  env          every KYC_ARCHIVER_* / ALIBABA_CLOUD_* / AWS_* name used in compose, Kubernetes,
               systemd and the Dockerfile exists (config.rs SETTINGS, the worker settings, the
               binaries' clap `env =` names, the AWS SDK); secrets only in Secrets
  kubernetes   kustomization lists every manifest (not the Secret template); selectors, ports,
               probes (/healthz, /readyz on 9464), grace period > shutdown grace, security
               context, KEDA queue name and QPS x maxReplicaCount <= account limit,
               PrometheusRule == prometheus/alerts.yaml
  metrics      every metric (and label, and label value) in the dashboard, the alert rules,
               their tests and the docs exists in crates/kyc-archiver/src/metrics.rs; histograms
               only through _bucket/_sum/_count; every metric is on the dashboard
  alerts       required alerts exist with severity, summary, description and a runbook anchor
               that exists in docs/operations.md
  dashboard    datasource ${DS_PROMETHEUS} everywhere, unique panel ids, layout within 24 columns
  dockerfile   stages, default target, non-root user, ports, health checks, toolchain version
               matches rust-toolchain.toml, every COPY source exists and survives
               Dockerfile.dockerignore, no include_str!/include_bytes! outside the context
  systemd      unit hardening and stop timeout; `systemd-analyze verify` and `security`
  docs         operations.md: JSON blocks parse, relative links and anchors resolve
  hygiene      no container/package registry host names in deploy/ or docs/operations.md
Optional tools, run when found on PATH (or named by env var), reported as skipped otherwise:
  promtool (PROMTOOL): check rules, test rules, and the dashboard's queries;
  hadolint (HADOLINT); docker compose (DOCKER); kubectl kustomize (KUBECTL);
  kyc-archiver (KYC_ARCHIVER_BIN, else target/{release,debug}): `config check` of the
  environments in the ConfigMap + Secret template, compose and systemd env.example.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
K8S_DIR = DEPLOY / "kubernetes"
METRICS_RS = ROOT / "crates/kyc-archiver/src/metrics.rs"
CONFIG_RS = ROOT / "crates/kyc-archiver/src/config.rs"
CLAP_SOURCES = [ROOT / "crates/kyc-archiver/src/main.rs", ROOT / "crates/cloudauth-emulator/src/main.rs"]
OPERATIONS_MD = ROOT / "docs/operations.md"
TOOLCHAIN = ROOT / "rust-toolchain.toml"

HTTP_PORT = 9464
EMULATOR_PORT = 8787
RUNTIME_UID = 65532
DEFAULT_SHUTDOWN_GRACE = "60s"
DEFAULT_QUEUE_PREFIX = "kyc-archiver"
EKYC_QPS_LIMIT = 10  # CheckResult calls/s per Alibaba Cloud account for eKYC

# Read by `kyc-archiver run` in addition to config.rs SETTINGS (the worker's own settings).
WORKER_SETTINGS = {
    "KYC_ARCHIVER_AMQP_URL",
    "KYC_ARCHIVER_QUEUE_PREFIX",
    "KYC_ARCHIVER_CONCURRENCY",
    "KYC_ARCHIVER_PREFETCH",
    "KYC_ARCHIVER_SHUTDOWN_GRACE",
    "KYC_ARCHIVER_HTTP_LISTEN",
    "KYC_ARCHIVER_CONFIG",
}
# Read by the AWS SDK's default chains (credentials, region, endpoint, checksums).
AWS_SDK_VARS = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
}
# Secret by nature even where SETTINGS does not mark them (credentials, URLs with passwords).
EXTRA_SECRETS = {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "KYC_ARCHIVER_AMQP_URL"}
APP_ENV = re.compile(r"^(KYC_ARCHIVER_|ALIBABA_CLOUD_|AWS_)[A-Z0-9_]+$")
# Labels Prometheus or the scrape adds to every series.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container", "node"}
REGISTRY_HOSTS = [
    "docker.io", "quay.io", "ghcr.io", "gcr.io", "registry.k8s.io", "public.ecr.aws",
    "hub.docker.com", "registry-1.docker", "crates.io", "static.crates.io", "static.rust-lang.org",
    "pypi.org", "pythonhosted.org", "registry.npmjs.org", "npmjs.com", "deb.debian.org",
    "security.debian.org", "proxy.golang.org",
]


# ----------------------------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.passed = 0
        self.failed = 0
        self.notes: list[str] = []

    def check(self, name: str, fn: Callable[[], list[str] | None]) -> None:
        try:
            problems = fn() or []
        except Exception as e:  # a crash in a check is a problem, not a traceback
            problems = [f"check crashed: {type(e).__name__}: {e}"]
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     - {p}")
            self.problems.extend(problems)
        else:
            self.passed += 1
            print(f"ok   {name}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


# ----------------------------------------------------------------------------------------------
# A small YAML reader (fallback when PyYAML is absent). Supports block mappings and sequences,
# "- key: value" items, flow [..] and {..} on one line, plain / 'single' / "double" scalars,
# literal (|) and folded (>) block scalars, comments and "---" documents. Anchors, aliases,
# tags, multi-line flow and multi-line quoted scalars are refused, which keeps every file in a
# subset both readers agree on.


class MiniYamlError(ValueError):
    pass


_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$")


def _plain(text: str) -> Any:
    t = text.strip()
    if t in _NULLS:
        return None
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    if _INT.match(t):
        return int(t.replace("_", ""))
    if _FLOAT.match(t) and any(c.isdigit() for c in t):
        return float(t.replace("_", ""))
    if t in (".inf", ".Inf", ".INF", "+.inf"):
        return float("inf")
    if t[:1] in ("&", "*", "!", "%", "@", "`", "|", ">"):
        raise MiniYamlError(f"unsupported YAML construct: {t[:30]!r}")
    if re.match(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+$", t) or re.match(r"^\d{4}-\d\d?-\d\d?([Tt ]|$)", t) \
            or re.match(r"^[-+]?0[0-7_]+$|^[-+]?0x[0-9a-fA-F_]+$|^[-+]?0b[01_]+$", t):
        raise MiniYamlError(f"ambiguous plain scalar {t!r} (sexagesimal, date or octal in YAML 1.1): quote it")
    return t


def _double_quoted(s: str, i: int) -> tuple[str, int]:
    assert s[i] == '"'
    out = []
    i += 1
    esc = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0", "r": "\r", " ": " "}
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1: i + 2]
            if n in esc:
                out.append(esc[n])
                i += 2
                continue
            if n == "u":
                out.append(chr(int(s[i + 2: i + 6], 16)))
                i += 6
                continue
            raise MiniYamlError(f"unsupported escape \\{n}")
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise MiniYamlError("unterminated double-quoted scalar (multi-line quoted scalars are not supported)")


def _single_quoted(s: str, i: int) -> tuple[str, int]:
    assert s[i] == "'"
    out = []
    i += 1
    while i < len(s):
        if s[i] == "'":
            if s[i + 1: i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(s[i])
        i += 1
    raise MiniYamlError("unterminated single-quoted scalar (multi-line quoted scalars are not supported)")


def _strip_comment(s: str) -> str:
    """Removes a trailing comment (a # at the start or after whitespace, outside quotes)."""
    quote = None
    depth = 0
    for i, c in enumerate(s):
        if quote:
            if c == quote:
                if quote == "'" and s[i + 1: i + 2] == "'":
                    continue
                quote = None
            elif c == "\\" and quote == '"':
                continue
        elif c in "\"'" and (i == 0 or s[i - 1] in " \t[{,:-" or depth):
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s.rstrip()


def _flow(s: str, i: int) -> tuple[Any, int]:
    """Parses a flow node starting at s[i]; returns (value, index after it)."""
    while i < len(s) and s[i] == " ":
        i += 1
    c = s[i]
    if c == "[":
        items: list[Any] = []
        i += 1
        while True:
            while i < len(s) and s[i] == " ":
                i += 1
            if s[i] == "]":
                return items, i + 1
            v, i = _flow(s, i)
            items.append(v)
            while i < len(s) and s[i] == " ":
                i += 1
            if s[i] == ",":
                i += 1
            elif s[i] != "]":
                raise MiniYamlError(f"bad flow sequence near {s[i:i + 20]!r}")
    if c == "{":
        obj: dict[str, Any] = {}
        i += 1
        while True:
            while i < len(s) and s[i] == " ":
                i += 1
            if s[i] == "}":
                return obj, i + 1
            k, i = _flow_scalar(s, i, key=True)
            while s[i] == " ":
                i += 1
            if s[i] != ":":
                raise MiniYamlError(f"expected ':' in flow mapping near {s[i:i + 20]!r}")
            v, i = _flow(s, i + 1)
            if k in obj:
                raise MiniYamlError(f"duplicate key {k!r}")
            obj[k] = v
            while i < len(s) and s[i] == " ":
                i += 1
            if s[i] == ",":
                i += 1
            elif s[i] != "}":
                raise MiniYamlError(f"bad flow mapping near {s[i:i + 20]!r}")
    return _flow_scalar(s, i, key=False)


def _flow_scalar(s: str, i: int, key: bool) -> tuple[Any, int]:
    if s[i] == '"':
        return _double_quoted(s, i)
    if s[i] == "'":
        return _single_quoted(s, i)
    j = i
    while j < len(s) and s[j] not in ",]}" and not (s[j] == ":" and (j + 1 == len(s) or s[j + 1] == " ")):
        j += 1
    text = s[i:j].strip()
    return (text if key else _plain(text)), j


def _scalar_value(text: str) -> Any:
    t = text.strip()
    if not t:
        return None
    if t[0] in "[{":
        v, i = _flow(t, 0)
        if t[i:].strip():
            raise MiniYamlError(f"trailing text after flow node: {t[i:]!r}")
        return v
    if t[0] == '"':
        v, i = _double_quoted(t, 0)
    elif t[0] == "'":
        v, i = _single_quoted(t, 0)
    else:
        return _plain(t)
    if t[i:].strip():
        raise MiniYamlError(f"trailing text after quoted scalar: {t[i:]!r}")
    return v


def _split_key(content: str) -> tuple[str, str] | None:
    """'key: value' -> (key, rest); None when the line is not a mapping entry."""
    if content[0] in "\"'":
        key, i = (_double_quoted if content[0] == '"' else _single_quoted)(content, 0)
        rest = content[i:]
        if rest.startswith(":") and (len(rest) == 1 or rest[1] == " "):
            return key, rest[1:]
        return None
    if content[0] in "[{":
        return None
    m = re.match(r"^([^#:][^:]*?|[^#:]*?)\s*:(\s|$)", content)
    if not m:
        return None
    return m.group(1).strip(), content[m.end(1):].lstrip()[1:]


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def peek(self) -> tuple[int, str] | None:
        """Next significant line as (indent, content without comment), skipping blanks."""
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise MiniYamlError(f"line {self.i + 1}: tab in indentation")
            content = _strip_comment(raw.strip())
            if content:
                return len(raw) - len(raw.lstrip(" ")), content
            self.i += 1
        return None


def _block(ls: _Lines, indent: int) -> Any:
    nxt = ls.peek()
    if nxt is None:
        return None
    ind, content = nxt
    if ind < indent:
        return None
    if content == "-" or content.startswith("- "):
        return _sequence(ls, ind)
    if _split_key(content) is not None:
        return _mapping(ls, ind)
    ls.i += 1
    follow = ls.peek()
    if follow is not None and follow[0] > indent and follow[0] >= ind:
        raise MiniYamlError(f"line {ls.i}: multi-line plain scalars are not supported")
    return _scalar_value(content)


def _value_after_key(ls: _Lines, key_indent: int, rest: str) -> Any:
    rest = _strip_comment(rest.strip())
    if rest[:1] in ("|", ">"):
        return _block_scalar(ls, key_indent, rest)
    if rest:
        return _scalar_value(rest)
    nxt = ls.peek()
    if nxt is None:
        return None
    ind, content = nxt
    if ind > key_indent:
        return _block(ls, ind)
    if ind == key_indent and (content == "-" or content.startswith("- ")):
        return _sequence(ls, ind)
    return None


def _block_scalar(ls: _Lines, parent_indent: int, header: str) -> str:
    m = re.fullmatch(r"([|>])([-+]?)", header)
    if not m:
        raise MiniYamlError(f"unsupported block scalar header {header!r}")
    style, chomp = m.groups()
    body: list[str] = []
    block_indent = None
    while ls.i < len(ls.lines):
        raw = ls.lines[ls.i]
        if raw.strip() == "":
            body.append("")
            ls.i += 1
            continue
        ind = len(raw) - len(raw.lstrip(" "))
        if ind <= parent_indent:
            break
        if block_indent is None:
            block_indent = ind
        if ind < block_indent:
            break
        body.append(raw[block_indent:].rstrip("\n"))
        ls.i += 1
    while body and body[-1] == "":
        body.pop()
        trailing_blank = True
    if style == "|":
        text = "\n".join(body)
    else:
        text = ""
        for j, line in enumerate(body):
            if j == 0:
                text = line
            elif line == "" or line.startswith(" ") or body[j - 1].startswith(" "):
                text += "\n" + line
            elif body[j - 1] == "":
                text += line
            else:
                text += " " + line
    if chomp == "-":
        return text
    if chomp == "+":
        raise MiniYamlError("keep chomping (|+) is not supported")
    return text + "\n" if body else ""


def _mapping(ls: _Lines, indent: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    while True:
        nxt = ls.peek()
        if nxt is None:
            return out
        ind, content = nxt
        if ind < indent:
            return out
        if ind > indent:
            raise MiniYamlError(f"line {ls.i + 1}: unexpected indentation")
        if content == "-" or content.startswith("- "):
            return out
        kv = _split_key(content)
        if kv is None:
            raise MiniYamlError(f"line {ls.i + 1}: expected 'key: value', got {content[:40]!r}")
        key, rest = kv
        if key == "<<" or key.startswith(("&", "*", "!", "?")):
            raise MiniYamlError(f"line {ls.i + 1}: merge keys, anchors, tags and complex keys are not supported")
        ls.i += 1
        if key in out:
            raise MiniYamlError(f"line {ls.i}: duplicate key {key!r}")
        out[key] = _value_after_key(ls, indent, rest)


def _sequence(ls: _Lines, indent: int) -> list[Any]:
    out: list[Any] = []
    while True:
        nxt = ls.peek()
        if nxt is None:
            return out
        ind, content = nxt
        if ind != indent or not (content == "-" or content.startswith("- ")):
            if ind > indent:
                raise MiniYamlError(f"line {ls.i + 1}: unexpected indentation in sequence")
            return out
        item = content[1:].lstrip(" ")
        if not item:
            ls.i += 1
            nxt = ls.peek()
            out.append(_block(ls, indent + 1) if nxt and nxt[0] > indent else None)
            continue
        # Re-read the item's content as a block starting at its own column.
        col = indent + (len(content) - len(item))
        raw = ls.lines[ls.i]
        ls.lines[ls.i] = " " * col + raw[col:]
        if item[:1] in ("|", ">") and re.fullmatch(r"[|>][-+]?", _strip_comment(item)):
            ls.i += 1
            out.append(_block_scalar(ls, indent, _strip_comment(item)))
        elif _split_key(item) is not None or item.startswith("- "):
            out.append(_block(ls, col))
        else:
            ls.i += 1
            out.append(_scalar_value(item))


def mini_yaml_load_all(text: str) -> list[Any]:
    docs: list[list[str]] = [[]]
    for line in text.splitlines():
        if re.match(r"^---(\s+#.*)?\s*$", line):
            docs.append([])
        elif re.match(r"^\.\.\.\s*$", line):
            continue
        else:
            docs[-1].append(line)
    out = []
    for lines in docs:
        ls = _Lines(lines)
        if ls.peek() is None:
            continue
        ind, _ = ls.peek()  # type: ignore[misc]
        value = _block(ls, ind)
        if ls.peek() is not None:
            raise MiniYamlError(f"line {ls.i + 1}: could not parse {ls.lines[ls.i].strip()[:40]!r}")
        out.append(value)
    return out


try:
    import yaml as _pyyaml  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the environment
    _pyyaml = None


def load_yaml_all(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        mini = mini_yaml_load_all(text)
    except MiniYamlError as e:
        raise MiniYamlError(f"{rel(path)}: {e} (the built-in reader's subset: see deploy/check.py)") from None
    if _pyyaml is not None:
        real = [d for d in _pyyaml.safe_load_all(text) if d is not None]
        if real != mini:
            raise MiniYamlError(
                f"{rel(path)}: PyYAML and the built-in reader disagree on this file; keep it within the "
                "subset described in deploy/check.py (no anchors, no multi-line plain or quoted scalars)")
        return real
    return mini


def load_yaml(path: Path) -> Any:
    docs = load_yaml_all(path)
    if len(docs) != 1:
        raise MiniYamlError(f"{rel(path)}: expected one YAML document, found {len(docs)}")
    return docs[0]


# ----------------------------------------------------------------------------------------------
# Facts from the code


def metric_catalog() -> dict[str, dict[str, Any]]:
    """name -> {"const", "histogram", "labels": {label: set(values) | None}} from metrics.rs."""
    text = METRICS_RS.read_text(encoding="utf-8")
    catalog: dict[str, dict[str, Any]] = {}
    doc: list[str] = []
    consts: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("///"):
            doc.append(s[3:].strip())
            continue
        m = re.match(r'pub const ([A-Z0-9_]+): &str = "([^"]+)";', s)
        if m:
            const, name = m.groups()
            consts[const] = name
            words = " ".join(doc)
            labels: dict[str, set[str] | None] = {}
            for lm in re.finditer(r"by `(\w+)`(:\s*([^.]*)\.)?", words):
                label, _, values = lm.groups()
                if values:
                    vals = set()
                    for item in values.split(","):
                        w = re.match(r"\s*([a-z_]+)", item)
                        if w:
                            vals.add(w.group(1))
                    labels[label] = vals
                else:
                    labels[label] = None
            catalog[name] = {"const": const, "histogram": False, "labels": labels}
        if not s.startswith("///"):
            doc = []
    for hm in re.finditer(r"describe_histogram!\(\s*([A-Z0-9_]+)", text):
        name = consts.get(hm.group(1))
        if name:
            catalog[name]["histogram"] = True
    all_m = re.search(r"pub const ALL: &\[&str\] = &\[(.*?)\];", text, re.S)
    if all_m:
        listed = {consts.get(c.strip()) for c in all_m.group(1).split(",") if c.strip()}
        missing = set(catalog) - listed
        if missing:
            raise RuntimeError(f"metrics.rs: ALL misses {sorted(missing)}")
    if not catalog:
        raise RuntimeError("no `pub const X: &str = \"...\"` metric names found in metrics.rs")
    return catalog


def settings() -> tuple[set[str], set[str]]:
    """(every env var name of SETTINGS, those marked secret) from config.rs."""
    text = CONFIG_RS.read_text(encoding="utf-8")
    start = text.index("pub const SETTINGS")
    body = text[start: text.index("];", start)]
    names, secrets = set(), set()
    for m in re.finditer(r'\b(s|secret)\(\s*"([a-z0-9_.]+)",\s*"([A-Z0-9_]+)"', body):
        kind, _key, env = m.groups()
        names.add(env)
        if kind == "secret":
            secrets.add(env)
    if not names:
        raise RuntimeError("no settings found in config.rs SETTINGS")
    # Variables config.rs reads besides the table (fallbacks).
    names |= set(re.findall(r'env\("([A-Z0-9_]+)"\)', text))
    return names, secrets


def clap_env_names() -> set[str]:
    names = set()
    for p in CLAP_SOURCES:
        if p.exists():
            names |= set(re.findall(r'\benv\s*=\s*"([A-Z0-9_]+)"', p.read_text(encoding="utf-8")))
    return names


def allowed_env() -> tuple[set[str], set[str]]:
    names, secrets = settings()
    return names | WORKER_SETTINGS | clap_env_names() | AWS_SDK_VARS, secrets | EXTRA_SECRETS


def parse_duration(text: str) -> float:
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.strip().replace(" ", ""):
        raise ValueError(f"not a duration: {text!r}")
    for n, u in parts:
        total += float(n) * units[u]
    return total


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    problems = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", s)
        if not m:
            problems.append(f"{rel(path)}:{n}: not KEY=VALUE: {s[:40]!r}")
            continue
        k, v = m.groups()
        if k in values:
            problems.append(f"{rel(path)}:{n}: {k} defined twice")
        if v[:1] in "\"'":
            problems.append(f"{rel(path)}:{n}: {k}: do not quote values (they are taken literally)")
        values[k] = v
    return values, problems


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)
    elif isinstance(node, str):
        yield node


# ----------------------------------------------------------------------------------------------
# PromQL (enough of it to find metric selectors)

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "inf", "nan", "atan2", "start", "end",
                   # aggregation operators may be followed by `by (...)` before their parenthesis
                   "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                   "quantile", "count_values", "group", "limitk", "limit_ratio"}


def promql_selectors(expr: str) -> list[tuple[str, str]]:
    """[(metric name, matcher text)] for every vector selector in expr."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            i = j + 1
        elif c == "[":
            i = expr.index("]", i) + 1
        elif c == "{":
            i = expr.index("}", i) + 1  # a selector without a metric name
        elif c.isalpha() or c in "_:":
            m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr[i:])
            word = m.group(0)  # type: ignore[union-attr]
            j = i + len(word)
            k = j
            while k < n and expr[k] == " ":
                k += 1
            if word in PROMQL_KEYWORDS and word in {"by", "without", "on", "ignoring", "group_left", "group_right"}:
                if k < n and expr[k] == "(":
                    i = expr.index(")", k) + 1
                    continue
                i = j
            elif word in PROMQL_KEYWORDS or (k < n and expr[k] == "("):
                i = j
            elif k < n and expr[k] == "{":
                end = expr.index("}", k)
                out.append((word, expr[k + 1: end]))
                i = end + 1
            else:
                out.append((word, ""))
                i = j
        elif c.isdigit():
            m = re.match(r"[0-9][0-9a-zA-Z_.]*", expr[i:])
            i += len(m.group(0))  # type: ignore[union-attr]
        elif c == "$":
            m = re.match(r"\$\{?[A-Za-z0-9_]+\}?", expr[i:])
            i += len(m.group(0)) if m else 1
        else:
            i += 1
    return out


def check_promql(expr: str, where: str, catalog: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for name, matchers in promql_selectors(expr):
        base = name
        suffix = ""
        for sfx in ("_bucket", "_sum", "_count"):
            if name.endswith(sfx) and name[: -len(sfx)] in catalog:
                base, suffix = name[: -len(sfx)], sfx
        if base not in catalog:
            problems.append(f"{where}: metric {name!r} is not exported (crates/kyc-archiver/src/metrics.rs)")
            continue
        info = catalog[base]
        if info["histogram"] and not suffix:
            problems.append(f"{where}: {name} is a histogram: use {name}_bucket, _sum or _count")
        if suffix and not info["histogram"]:
            problems.append(f"{where}: {name}: {base} is not a histogram")
        for mm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"', matchers):
            label, op, value = mm.groups()
            allowed = info["labels"]
            if label in TARGET_LABELS or (label == "le" and suffix == "_bucket"):
                continue
            if label not in allowed:
                problems.append(f"{where}: {base} has no label {label!r} (labels: {sorted(allowed) or 'none'})")
                continue
            values = allowed[label]
            if values is None or "$" in value:
                continue
            if op in ("=", "!="):
                if value not in values:
                    problems.append(f"{where}: {base}{{{label}}} has no value {value!r} (documented: {sorted(values)})")
            else:
                rx = value.replace("\\\\", "\\")
                if not any(re.fullmatch(rx, v) for v in values):
                    problems.append(f"{where}: {base}{{{label}=~{value!r}}} matches none of {sorted(values)}")
                for alt in rx.split("|"):
                    if re.fullmatch(r"[a-z_]+", alt) and alt not in values:
                        problems.append(f"{where}: {base}{{{label}}} has no value {alt!r} (documented: {sorted(values)})")
    for hq in re.finditer(r"histogram_quantile\(", expr):
        tail = expr[hq.end():]
        if "_bucket" not in tail or not re.search(r"by\s*\([^)]*\ble\b", tail):
            problems.append(f"{where}: histogram_quantile needs rate(..._bucket) aggregated by (le)")
    return problems


# ----------------------------------------------------------------------------------------------
# Dockerfile helpers


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    buf = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def dockerignore_patterns(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    pats = []
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        s = s[1:] if neg else s
        s = s.strip("/")
        rx = ""
        i = 0
        while i < len(s):
            if s.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif s.startswith("**", i):
                rx += ".*"
                i += 2
            elif s[i] == "*":
                rx += "[^/]*"
                i += 1
            elif s[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(s[i])
                i += 1
        pats.append((neg, re.compile(rx + "$")))
    return pats


def dockerignored(relpath: str, pats: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    excluded = False
    for neg, rx in pats:
        if any(rx.match(p) for p in prefixes):
            excluded = not neg
    return excluded


# ----------------------------------------------------------------------------------------------
# The checks


class Checks:
    def __init__(self, report: Report) -> None:
        self.r = report
        self.catalog = metric_catalog()
        self.env_allowed, self.env_secret = allowed_env()
        self.compose = load_yaml(COMPOSE_DIR / "compose.yaml")
        self.env_example, self.env_example_problems = read_env_file(COMPOSE_DIR / ".env.example")
        self.k8s: dict[str, list[dict[str, Any]]] = {
            p.name: [d for d in load_yaml_all(p) if d is not None] for p in sorted(K8S_DIR.glob("*.yaml"))
        }
        self.alerts = load_yaml(DEPLOY / "prometheus/alerts.yaml")
        self.dashboard = json.loads((DEPLOY / "grafana/kyc-archiver-dashboard.json").read_text(encoding="utf-8"))
        self.dockerfile = dockerfile_instructions(DEPLOY / "Dockerfile")

    # -- helpers --
    def k8s_objects(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(f, d) for f, docs in self.k8s.items() for d in docs if d.get("kind") == kind]

    def one(self, kind: str) -> dict[str, Any]:
        objs = self.k8s_objects(kind)
        if len(objs) != 1:
            raise RuntimeError(f"expected one {kind} in deploy/kubernetes, found {len(objs)}")
        return objs[0][1]

    def configmap(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.one("ConfigMap").get("data") or {}).items()}

    def substitute(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            return self.env_example.get(m.group(1), "")
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}", repl, text.replace("$$", "\0")).replace("\0", "$")

    def stages(self) -> list[tuple[str, list[tuple[str, str]]]]:
        stages: list[tuple[str, list[tuple[str, str]]]] = []
        for ins, arg in self.dockerfile:
            if ins == "FROM":
                m = re.search(r"\bAS\s+(\S+)", arg, re.I)
                stages.append((m.group(1) if m else arg, []))
            elif stages:
                stages[-1][1].append((ins, arg))
        return stages

    # -- parse --
    def parse(self) -> list[str]:
        return parse_all()[1] + list(self.env_example_problems)


    # -- compose --
    def compose_checks(self) -> list[str]:
        problems = []
        services = self.compose.get("services") or {}
        used: set[str] = set()
        for s in walk_strings(self.compose):
            s = s.replace("$$", "")
            for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", s):
                name = m.group(1) or m.group(3)
                used.add(name)
                if m.group(3):
                    problems.append(f"compose.yaml: use ${{{name}}}, not ${name}")
        for name in sorted(used - set(self.env_example)):
            problems.append(f"compose.yaml uses ${{{name}}}, which .env.example does not define")
        for name in sorted(set(self.env_example) - used):
            if not name.startswith("COMPOSE_"):
                problems.append(f".env.example defines {name}, which compose.yaml never uses")
        # Host/port pairs in .env.example and compose values.
        pairs = {"emulator": EMULATOR_PORT, "kyc-archiver": HTTP_PORT}
        for key, value in list(self.env_example.items()) + [("compose.yaml", self.substitute(s)) for s in walk_strings(services)]:
            for m in re.finditer(r"(?:^|//|=)(emulator|kyc-archiver):(\d+)(?![^/\s]*@)", value):
                host, port = m.group(1), int(m.group(2))
                if port != pairs[host]:
                    problems.append(f"{key}: {host}:{port} (expected port {pairs[host]})")
        for name in ("kyc-archiver", "emulator", "rabbitmq", "minio", "minio-init"):
            if name not in services:
                problems.append(f"compose.yaml: no service {name!r}")
        worker = services.get("kyc-archiver", {})
        emulator = services.get("emulator", {})
        for svc_name, svc, port in (("kyc-archiver", worker, HTTP_PORT), ("emulator", emulator, EMULATOR_PORT)):
            for spec in svc.get("ports") or []:
                container = str(spec).rsplit(":", 1)[-1].split("/")[0]
                if container != str(port):
                    problems.append(f"compose.yaml: {svc_name} publishes container port {container}, expected {port}")
            if not svc.get("ports"):
                problems.append(f"compose.yaml: {svc_name} publishes no port")
        env = worker.get("environment") or {}
        listen = self.substitute(str(env.get("KYC_ARCHIVER_HTTP_LISTEN", f"0.0.0.0:{HTTP_PORT}")))
        if not listen.endswith(f":{HTTP_PORT}"):
            problems.append(f"compose.yaml: KYC_ARCHIVER_HTTP_LISTEN={listen}, expected port {HTTP_PORT}")
        cmd = " ".join(str(c) for c in emulator.get("command") or [])
        if f"0.0.0.0:{EMULATOR_PORT}" not in cmd:
            problems.append(f"compose.yaml: the emulator must listen on 0.0.0.0:{EMULATOR_PORT} (--listen)")
        grace = parse_duration(self.substitute(str(env.get("KYC_ARCHIVER_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE))))
        stop = parse_duration(str(worker.get("stop_grace_period", "10s")))
        if stop <= grace:
            problems.append(f"compose.yaml: stop_grace_period {stop:.0f}s must exceed KYC_ARCHIVER_SHUTDOWN_GRACE {grace:.0f}s")
        stage_names = {name for name, _ in self.stages()}
        healthchecked_stages = {name for name, ins in self.stages() if any(i == "HEALTHCHECK" for i, _ in ins)}
        for name, svc in services.items():
            build = svc.get("build")
            if isinstance(build, dict):
                df = (COMPOSE_DIR / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
                if df != (DEPLOY / "Dockerfile").resolve():
                    problems.append(f"compose.yaml: {name} builds {df}, expected deploy/Dockerfile")
                if build.get("target") not in stage_names:
                    problems.append(f"compose.yaml: {name}: build target {build.get('target')!r} is not a Dockerfile stage")
            for vol in svc.get("volumes") or []:
                src, _, rest = str(vol).partition(":")
                if src.startswith("."):
                    host = COMPOSE_DIR / src
                    if not host.exists():
                        problems.append(f"compose.yaml: {name}: bind mount {src} does not exist")
                    target = rest.split(":")[0]
                    for word in [str(w) for w in (svc.get("entrypoint") or []) + (svc.get("command") or [])]:
                        if word.startswith(target + "/") and not (host / word[len(target) + 1:]).exists():
                            problems.append(f"compose.yaml: {name}: {word} is not in {src}")
            for dep, cond in (svc.get("depends_on") or {}).items():
                if dep not in services:
                    problems.append(f"compose.yaml: {name} depends on unknown service {dep}")
                    continue
                if isinstance(cond, dict) and cond.get("condition") == "service_healthy":
                    d = services[dep]
                    target = (d.get("build") or {}).get("target") if isinstance(d.get("build"), dict) else None
                    if "healthcheck" not in d and target not in healthchecked_stages:
                        problems.append(f"compose.yaml: {name} waits for {dep} to be healthy, but {dep} has no health check")
        unpinned = [f"{k}={v}" for k, v in self.env_example.items()
                    if k.endswith("_IMAGE") and "@sha256:" not in v and ":dev" not in v]
        if unpinned:
            self.r.note("images not pinned by digest in .env.example (pin them for reproducible runs): " + ", ".join(unpinned))
        return problems

    # -- environment variable names --
    def env_checks(self) -> list[str]:
        problems = []
        uses: list[tuple[str, str, str | None]] = []  # (where, name, literal value or None)
        for name, svc in (self.compose.get("services") or {}).items():
            env = svc.get("environment") or {}
            items = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
            for k, v in items:
                uses.append((f"compose.yaml service {name}", k, None if v is None else str(v)))
        for f, d in self.k8s_objects("ConfigMap"):
            for k, v in (d.get("data") or {}).items():
                uses.append((f"kubernetes/{f}", k, str(v)))
        for f, d in self.k8s_objects("Secret"):
            for k in list((d.get("stringData") or {})) + list((d.get("data") or {})):
                uses.append((f"kubernetes/{f}", k, None))
        for f, docs in self.k8s.items():
            for d in docs:
                for s in walk_containers(d):
                    for e in s.get("env") or []:
                        uses.append((f"kubernetes/{f}", e["name"], e.get("value")))
        env_file = DEPLOY / "systemd/env.example"
        systemd_env, p = read_env_file(env_file)
        problems += p
        for k, v in systemd_env.items():
            uses.append(("systemd/env.example", k, v))
        for ins, arg in self.dockerfile:
            if ins == "ENV":
                for m in re.finditer(r"([A-Z][A-Z0-9_]*)=", arg):
                    uses.append(("Dockerfile", m.group(1), None))
        for where, name, value in uses:
            if APP_ENV.match(name) and name not in self.env_allowed:
                problems.append(f"{where}: {name} is not a setting (config.rs SETTINGS, worker settings, clap env, AWS SDK)")
        for f, d in self.k8s_objects("ConfigMap"):
            for k in d.get("data") or {}:
                if k in self.env_secret:
                    problems.append(f"kubernetes/{f}: {k} is secret: it belongs in the Secret")
        for where, name, value in uses:
            if where.startswith("compose.yaml") and name in self.env_secret and value is not None and "${" not in value:
                problems.append(f"{where}: {name} has a literal value; take it from .env")
        return problems

    # -- kubernetes --
    def kubernetes_checks(self) -> list[str]:
        problems = []
        for f, docs in self.k8s.items():
            for d in docs:
                if f == "kustomization.yaml":
                    continue
                for key in ("apiVersion", "kind"):
                    if key not in d:
                        problems.append(f"kubernetes/{f}: a document has no {key}")
                if not (d.get("metadata") or {}).get("name"):
                    problems.append(f"kubernetes/{f}: {d.get('kind')} has no metadata.name")
                if (d.get("metadata") or {}).get("namespace"):
                    problems.append(f"kubernetes/{f}: {d.get('kind')} sets a namespace; kustomization.yaml does")
        kust = self.k8s.get("kustomization.yaml", [{}])[0]
        resources = kust.get("resources") or []
        for res in resources:
            if not (K8S_DIR / res).exists():
                problems.append(f"kustomization.yaml: resource {res} does not exist")
        for f in self.k8s:
            if f in ("kustomization.yaml", "secret.example.yaml"):
                continue
            if f not in resources:
                problems.append(f"kustomization.yaml does not list {f}")
        if "secret.example.yaml" in resources:
            problems.append("kustomization.yaml lists secret.example.yaml: applying placeholders would overwrite the real Secret")

        dep = self.one("Deployment")
        cm = self.one("ConfigMap")
        secret = self.one("Secret")
        svc = self.one("Service")
        data = self.configmap()
        pod = dep["spec"]["template"]
        labels = pod["metadata"]["labels"]
        sel = dep["spec"]["selector"]["matchLabels"]
        if not set(sel.items()) <= set(labels.items()):
            problems.append("deployment.yaml: selector does not match the pod labels")
        spec = pod["spec"]
        containers = spec["containers"]
        c = containers[0]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        if ports.get("http") != HTTP_PORT:
            problems.append(f"deployment.yaml: containerPort named http must be {HTTP_PORT}, is {ports.get('http')}")
        listen = data.get("KYC_ARCHIVER_HTTP_LISTEN", f"0.0.0.0:{HTTP_PORT}")
        if not listen.endswith(f":{HTTP_PORT}"):
            problems.append(f"configmap.yaml: KYC_ARCHIVER_HTTP_LISTEN={listen}, expected port {HTTP_PORT}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            pr = (c.get(probe) or {}).get("httpGet")
            if not pr:
                problems.append(f"deployment.yaml: no {probe} (httpGet)")
                continue
            if pr.get("path") != path:
                problems.append(f"deployment.yaml: {probe} path {pr.get('path')}, expected {path}")
            if pr.get("port") not in ("http", HTTP_PORT):
                problems.append(f"deployment.yaml: {probe} port {pr.get('port')}, expected http ({HTTP_PORT})")
        grace = parse_duration(data.get("KYC_ARCHIVER_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE))
        tgp = spec.get("terminationGracePeriodSeconds", 30)
        if tgp <= grace:
            problems.append(f"deployment.yaml: terminationGracePeriodSeconds {tgp} must exceed KYC_ARCHIVER_SHUTDOWN_GRACE {grace:.0f}s")
        psc, csc = spec.get("securityContext") or {}, c.get("securityContext") or {}
        if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
            problems.append("deployment.yaml: runAsNonRoot is not set")
        if psc.get("runAsUser", csc.get("runAsUser")) != RUNTIME_UID:
            problems.append(f"deployment.yaml: runAsUser must be {RUNTIME_UID} (the image's user)")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append("deployment.yaml: readOnlyRootFilesystem must be true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append("deployment.yaml: allowPrivilegeEscalation must be false")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append("deployment.yaml: capabilities must drop ALL")
        limits = (c.get("resources") or {}).get("limits") or {}
        if "memory" not in limits or "memory" not in ((c.get("resources") or {}).get("requests") or {}):
            problems.append("deployment.yaml: memory request and limit are required")
        for f, d in self.k8s.items():
            for doc in d:
                for cont in walk_containers(doc):
                    for ref in cont.get("envFrom") or []:
                        if "configMapRef" in ref and ref["configMapRef"]["name"] != cm["metadata"]["name"]:
                            problems.append(f"kubernetes/{f}: envFrom ConfigMap {ref['configMapRef']['name']} does not exist")
                        if "secretRef" in ref and ref["secretRef"]["name"] != secret["metadata"]["name"]:
                            problems.append(f"kubernetes/{f}: envFrom Secret {ref['secretRef']['name']} does not exist")
                    if cont.get("image", "").split(":")[0] != c["image"].split(":")[0]:
                        problems.append(f"kubernetes/{f}: image {cont.get('image')} differs from the Deployment's")
        images = {i.get("name") for i in kust.get("images") or []}
        if c["image"].split(":")[0] not in images:
            problems.append(f"kustomization.yaml: images: has no entry for {c['image'].split(':')[0]}")
        for k, v in (secret.get("stringData") or {}).items():
            if "REPLACE" not in str(v):
                problems.append(f"secret.example.yaml: {k} must be a placeholder containing REPLACE")
        # Service, ServiceMonitor, PDB
        if not set(svc["spec"]["selector"].items()) <= set(labels.items()):
            problems.append("service.yaml: selector does not match the pod labels")
        sports = {p["name"]: p for p in svc["spec"]["ports"]}
        if "http" not in sports or sports["http"]["port"] != HTTP_PORT or sports["http"].get("targetPort") not in ("http", HTTP_PORT):
            problems.append(f"service.yaml: port http must be {HTTP_PORT} with targetPort http")
        sm = self.one("ServiceMonitor")
        if not set(sm["spec"]["selector"]["matchLabels"].items()) <= set(svc["metadata"]["labels"].items()):
            problems.append("servicemonitor.yaml: selector does not match the Service's labels")
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in sports:
                problems.append(f"servicemonitor.yaml: port {ep.get('port')} is not a Service port")
            if ep.get("path", "/metrics") != "/metrics":
                problems.append("servicemonitor.yaml: path must be /metrics")
        pdb = self.one("PodDisruptionBudget")
        if not set(pdb["spec"]["selector"]["matchLabels"].items()) <= set(labels.items()):
            problems.append("pdb.yaml: selector does not match the pod labels")
        # KEDA
        so = self.one("ScaledObject")
        ta = self.one("TriggerAuthentication")
        if so["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
            problems.append("keda-scaledobject.yaml: scaleTargetRef is not the Deployment")
        prefix = data.get("KYC_ARCHIVER_QUEUE_PREFIX", DEFAULT_QUEUE_PREFIX)
        for t in so["spec"]["triggers"]:
            if t["type"] != "rabbitmq":
                continue
            if t["metadata"].get("queueName") != f"{prefix}.work":
                problems.append(f"keda-scaledobject.yaml: queueName {t['metadata'].get('queueName')}, expected {prefix}.work")
            if t.get("authenticationRef", {}).get("name") != ta["metadata"]["name"]:
                problems.append("keda-scaledobject.yaml: authenticationRef is not the TriggerAuthentication")
        for ref in ta["spec"].get("secretTargetRef") or []:
            if ref["name"] != secret["metadata"]["name"] or ref["key"] not in (secret.get("stringData") or {}):
                problems.append(f"keda-scaledobject.yaml: secretTargetRef {ref['name']}/{ref['key']} is not in the Secret")
        qps = int(data.get("KYC_ARCHIVER_CLOUDAUTH_QPS", "10"))
        max_rep = int(so["spec"].get("maxReplicaCount", 100))
        if qps * max_rep > EKYC_QPS_LIMIT:
            problems.append(f"KYC_ARCHIVER_CLOUDAUTH_QPS {qps} x maxReplicaCount {max_rep} = {qps * max_rep} "
                            f"exceeds the account's eKYC limit of {EKYC_QPS_LIMIT}/s")
        if so["spec"].get("minReplicaCount", 0) > dep["spec"].get("replicas", 1) or dep["spec"].get("replicas", 1) > max_rep:
            problems.append("deployment.yaml: replicas outside the ScaledObject's min/max")
        # PrometheusRule mirrors alerts.yaml
        pr = self.one("PrometheusRule")
        if pr["spec"].get("groups") != self.alerts.get("groups"):
            problems.append("prometheusrule.yaml differs from prometheus/alerts.yaml: run deploy/check.py --write-prometheusrule")
        elif (K8S_DIR / "prometheusrule.yaml").read_text(encoding="utf-8") != prometheusrule_text():
            problems.append("prometheusrule.yaml is not the generated text: run deploy/check.py --write-prometheusrule")
        return problems

    # -- metrics --
    def metrics_checks(self) -> list[str]:
        problems = []
        for g in self.alerts.get("groups") or []:
            for rule in g.get("rules") or []:
                problems += check_promql(str(rule.get("expr", "")), f"alerts.yaml {rule.get('alert') or rule.get('record')}", self.catalog)
        dash_exprs = list(dashboard_exprs(self.dashboard))
        used_on_dashboard: set[str] = set()
        for where, expr in dash_exprs:
            problems += check_promql(expr, f"dashboard {where}", self.catalog)
            for name, _ in promql_selectors(expr):
                used_on_dashboard.add(re.sub(r"_(bucket|sum|count)$", "", name) if name not in self.catalog else name)
        for var in (self.dashboard.get("templating") or {}).get("list") or []:
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((?:([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?,\s*)?([a-zA-Z_]+)\)", str(q or ""))
            if var.get("type") == "query":
                if not m:
                    problems.append(f"dashboard variable {var.get('name')}: unsupported query {q!r}")
                    continue
                problems += check_promql(f"{m.group(1)}{m.group(2) or ''}", f"dashboard variable {var.get('name')}", self.catalog)
                if m.group(3) not in TARGET_LABELS and m.group(3) not in self.catalog.get(m.group(1), {}).get("labels", {}):
                    problems.append(f"dashboard variable {var.get('name')}: label {m.group(3)} unknown")
        for name in sorted(set(self.catalog) - used_on_dashboard):
            problems.append(f"dashboard: no panel shows {name}")
        tests = DEPLOY / "prometheus/alerts.test.yaml"
        for t in load_yaml(tests).get("tests") or []:
            for series in t.get("input_series") or []:
                problems += check_promql(series["series"], f"alerts.test.yaml {t.get('name')}", self.catalog)
        for doc in (OPERATIONS_MD, COMPOSE_DIR / "README.md"):
            for m in re.finditer(r"\bkyc_archiver_[a-z0-9_]+", doc.read_text(encoding="utf-8")):
                name = m.group(0)
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name not in self.catalog and not (base in self.catalog and self.catalog[base]["histogram"]):
                    problems.append(f"{rel(doc)}: unknown metric {name}")
        return sorted(set(problems))

    # -- alerts --
    def alert_checks(self) -> list[str]:
        problems = []
        anchors = markdown_anchors(OPERATIONS_MD.read_text(encoding="utf-8"))
        names = []
        exprs = []
        for g in self.alerts.get("groups") or []:
            for rule in g.get("rules") or []:
                name = rule.get("alert")
                if not name:
                    continue
                names.append(name)
                exprs.append(str(rule.get("expr", "")))
                if (rule.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"{name}: labels.severity must be critical, warning or info")
                ann = rule.get("annotations") or {}
                for key in ("summary", "description", "runbook"):
                    if not ann.get(key):
                        problems.append(f"{name}: no annotations.{key}")
                rb = str(ann.get("runbook", ""))
                if rb and not (rb.startswith("docs/operations.md#") and rb.split("#", 1)[1] in anchors):
                    problems.append(f"{name}: runbook {rb} is not a heading of docs/operations.md")
                if "for" in rule:
                    parse_duration(str(rule["for"]))
        if len(names) != len(set(names)):
            problems.append("alert names are not unique")
        required = {
            "parked messages": r'kyc_archiver_queue_dispositions_total\{[^}]*queue="parked"',
            "dead letters": r'kyc_archiver_queue_dispositions_total\{[^}]*queue="dead"',
            "video deadline slack": r"kyc_archiver_video_deadline_slack_seconds_bucket",
            "videos lost": r'kyc_archiver_videos_total\{[^}]*fate=~"deleted\|failed"',
            "CheckResult throttling": r'kyc_archiver_checkresult_calls_total\{[^}]*code=~"Throttling',
            "store errors": r"kyc_archiver_store_errors_total",
            "broker disconnected": r"kyc_archiver_broker_connected",
        }
        for what, rx in required.items():
            if not any(re.search(rx, e) for e in exprs):
                problems.append(f"no alert for {what} ({rx})")
        return problems

    # -- dashboard --
    def dashboard_checks(self) -> list[str]:
        problems = []
        d = self.dashboard
        ds = [v for v in (d.get("templating") or {}).get("list") or [] if v.get("type") == "datasource"]
        if not any(v.get("name") == "DS_PROMETHEUS" and v.get("query") == "prometheus" for v in ds):
            problems.append("no datasource variable DS_PROMETHEUS (query prometheus)")
        ids = []
        for p in walk_panels(d.get("panels") or []):
            ids.append(p.get("id"))
            g = p.get("gridPos") or {}
            if not g or g.get("x", 0) + g.get("w", 0) > 24:
                problems.append(f"panel {p.get('title')!r}: gridPos missing or wider than 24 columns")
            if p.get("type") == "row":
                continue
            if (p.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                problems.append(f"panel {p.get('title')!r}: datasource is not ${{DS_PROMETHEUS}}")
            if not p.get("targets"):
                problems.append(f"panel {p.get('title')!r}: no queries")
            for t in p.get("targets") or []:
                if (t.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                    problems.append(f"panel {p.get('title')!r} query {t.get('refId')}: datasource is not ${{DS_PROMETHEUS}}")
        if len(ids) != len(set(ids)) or None in ids:
            problems.append("panel ids must be present and unique")
        if not d.get("uid") or not d.get("title"):
            problems.append("dashboard needs uid and title")
        return problems

    # -- dockerfile --
    def dockerfile_checks(self) -> list[str]:
        problems = []
        stages = self.stages()
        names = [n for n, _ in stages]
        for want in ("builder", "emulator", "kyc-archiver"):
            if want not in names:
                problems.append(f"Dockerfile: no stage {want!r}")
        if names and names[-1] != "kyc-archiver":
            problems.append("Dockerfile: the last stage (the default target) must be kyc-archiver")
        args = {}
        for ins, arg in self.dockerfile:
            if ins == "ARG" and "=" in arg:
                k, v = arg.split("=", 1)
                args.setdefault(k, v)
        channel = re.search(r'channel\s*=\s*"([^"]+)"', TOOLCHAIN.read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
        mm = ".".join(channel.split(".")[:2])
        if not args.get("RUST_IMAGE", "").startswith(f"rust:{mm}-"):
            problems.append(f"Dockerfile: RUST_IMAGE {args.get('RUST_IMAGE')} does not match rust-toolchain.toml {channel}")
        if not any(ins == "ENV" and f"RUSTUP_TOOLCHAIN={channel}" in arg for ins, arg in self.dockerfile):
            problems.append(f"Dockerfile: ENV RUSTUP_TOOLCHAIN={channel} (rust-toolchain.toml) missing")
        by_name = dict(stages)
        for stage, port in (("kyc-archiver", HTTP_PORT), ("emulator", EMULATOR_PORT)):
            ins = by_name.get(stage, [])
            if not any(i == "EXPOSE" and str(port) in a.split() for i, a in ins):
                problems.append(f"Dockerfile: stage {stage} does not EXPOSE {port}")
            if not any(i == "HEALTHCHECK" for i, _ in ins):
                problems.append(f"Dockerfile: stage {stage} has no HEALTHCHECK")
        hc = [a for i, a in by_name.get("emulator", []) if i == "HEALTHCHECK"]
        if hc and str(EMULATOR_PORT) not in hc[0]:
            problems.append(f"Dockerfile: the emulator's HEALTHCHECK must probe port {EMULATOR_PORT}")
        users = [a for _, ins in stages for i, a in ins if i == "USER"]
        if not users or any(u.split(":")[0] != str(RUNTIME_UID) for u in users):
            problems.append(f"Dockerfile: runtime stages must run as USER {RUNTIME_UID}")
        if not any(i == "CMD" and '"run"' in a for i, a in by_name.get("kyc-archiver", [])):
            problems.append('Dockerfile: the kyc-archiver stage must default to CMD ["run"]')
        ignore = DEPLOY / "Dockerfile.dockerignore"
        pats = dockerignore_patterns(ignore)
        for ins, arg in self.dockerfile:
            if ins != "COPY" or "--from=" in arg:
                continue
            words = [w for w in arg.split() if not w.startswith("--")]
            for src in words[:-1]:
                path = ROOT / src
                if not path.exists():
                    problems.append(f"Dockerfile: COPY source {src} does not exist")
                    continue
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for f in files:
                    r = rel(f)
                    if "/target/" in f"/{r}/" or "__pycache__" in r:
                        continue
                    if dockerignored(r, pats):
                        problems.append(f"Dockerfile: COPY {src} needs {r}, which Dockerfile.dockerignore excludes")
                        break
        for secret_path in (".git/HEAD", "target/CACHEDIR.TAG", ".venv/pyvenv.cfg", "deploy/compose/.env", "docs/operations.md"):
            if not dockerignored(secret_path, pats):
                problems.append(f"Dockerfile.dockerignore lets {secret_path} into the build context")
        for src in list((ROOT / "crates").rglob("*.rs")) + list((ROOT / "tests").rglob("*.rs")):
            for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', src.read_text(encoding="utf-8", errors="replace")):
                target = (src.parent / m.group(1)).resolve()
                r = rel(target)
                if target.is_relative_to(ROOT) and dockerignored(r, pats):
                    problems.append(f"{rel(src)} includes {r}, which is not in the image build context")
        return problems

    # -- systemd --
    def systemd_checks(self) -> list[str]:
        problems = []
        unit = DEPLOY / "systemd/kyc-archiver.service"
        text = unit.read_text(encoding="utf-8")
        directives: dict[str, list[str]] = {}
        section = ""
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
            elif s and not s.startswith(("#", ";")) and "=" in s:
                k, v = s.split("=", 1)
                directives.setdefault(f"{section}.{k}", []).append(v)
        want = {
            "Service.NoNewPrivileges": "yes", "Service.ProtectSystem": "strict", "Service.Restart": "on-failure",
            "Service.EnvironmentFile": "/etc/kyc-archiver/env", "Service.PrivateTmp": "yes",
        }
        for k, v in want.items():
            if v not in directives.get(k, []):
                problems.append(f"kyc-archiver.service: {k.split('.', 1)[1]}={v} missing")
        if "yes" not in directives.get("Service.DynamicUser", []) and not directives.get("Service.User"):
            problems.append("kyc-archiver.service: needs DynamicUser=yes or User=")
        env, _ = read_env_file(DEPLOY / "systemd/env.example")
        grace = parse_duration(env.get("KYC_ARCHIVER_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE))
        stop = parse_duration((directives.get("Service.TimeoutStopSec") or ["90s"])[-1])
        if stop <= grace:
            problems.append(f"kyc-archiver.service: TimeoutStopSec {stop:.0f}s must exceed the shutdown grace {grace:.0f}s")
        exec_start = (directives.get("Service.ExecStart") or [""])[-1].split()
        if exec_start[1:2] != ["run"]:
            problems.append("kyc-archiver.service: ExecStart must run `kyc-archiver run`")
        listen = env.get("KYC_ARCHIVER_HTTP_LISTEN", f"0.0.0.0:{HTTP_PORT}")
        if not listen.endswith(f":{HTTP_PORT}"):
            problems.append(f"systemd/env.example: KYC_ARCHIVER_HTTP_LISTEN={listen}, expected port {HTTP_PORT}")
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.r.note("systemd-analyze not found: `systemd-analyze verify` skipped")
            return problems
        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp) / "kyc-archiver"
            fake.write_text("#!/bin/sh\nexit 0\n")
            fake.chmod(0o755)
            copy = Path(tmp) / "kyc-archiver.service"
            copy.write_text(text.replace(exec_start[0], str(fake)))
            out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120)
            msg = (out.stdout + out.stderr).strip()
            if out.returncode != 0 or msg:
                problems.append(f"systemd-analyze verify: {msg or f'exit {out.returncode}'}")
            sec = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy)],
                                 capture_output=True, text=True, timeout=120)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout + sec.stderr)
            if m:
                self.r.note(f"systemd-analyze security: exposure {m.group(1)} (0 = best, 10 = worst)")
                if float(m.group(1)) > 2.5:
                    problems.append(f"systemd-analyze security: exposure {m.group(1)} is above 2.5")
        return problems

    # -- docs --
    def docs_checks(self) -> list[str]:
        problems = []
        text = OPERATIONS_MD.read_text(encoding="utf-8")
        anchors = markdown_anchors(text)
        for m in re.finditer(r"```json\n(.*?)```", text, re.S):
            try:
                json.loads(m.group(1))
            except ValueError as e:
                problems.append(f"operations.md: a JSON block does not parse: {e}")
        for doc in (OPERATIONS_MD, COMPOSE_DIR / "README.md"):
            body = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
            for m in re.finditer(r"\]\(([^)\s]+)\)", body):
                link = m.group(1)
                if re.match(r"^[a-z]+:", link):
                    continue
                path, _, anchor = link.partition("#")
                if not path:
                    if doc == OPERATIONS_MD and anchor not in anchors:
                        problems.append(f"{rel(doc)}: link to missing anchor #{anchor}")
                    continue
                target = (doc.parent / path).resolve()
                if target == (ROOT / "docs/configuration.md").resolve() and not target.exists():
                    self.r.note("docs/configuration.md does not exist yet (generated by `kyc-archiver config reference`)")
                    continue
                if not target.exists():
                    problems.append(f"{rel(doc)}: link to missing {link}")
            for m in re.finditer(r"\b((?:KYC_ARCHIVER|ALIBABA_CLOUD)_[A-Z0-9_]+)\b", body):
                if m.group(1) not in self.env_allowed:
                    problems.append(f"{rel(doc)}: {m.group(1)} is not a setting")
        return sorted(set(problems))

    # -- hygiene --
    def hygiene_checks(self) -> list[str]:
        problems = []
        files = [p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.name != "check.py"]
        for p in files + [OPERATIONS_MD]:
            text = p.read_text(encoding="utf-8", errors="replace").lower()
            for host in REGISTRY_HOSTS:
                if re.search(r"(?<![a-z0-9.-])" + re.escape(host) + r"(?![a-z0-9-])", text):
                    problems.append(f"{rel(p)}: names the registry host {host}")
            if p.suffix in (".sh", "") and p.read_bytes()[:2] == b"#!" and not os.access(p, os.X_OK):
                problems.append(f"{rel(p)}: script is not executable")
        return problems

    # -- optional external tools --
    def tools(self) -> list[str]:
        problems = []
        promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
        if promtool:
            for args in (["check", "rules", "alerts.yaml"], ["test", "rules", "alerts.test.yaml"]):
                out = subprocess.run([promtool, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=300)
                if out.returncode != 0:
                    problems.append(f"promtool {' '.join(args)}: {(out.stdout + out.stderr).strip()}")
            with tempfile.TemporaryDirectory() as tmp:
                rules = {"groups": [{"name": "dashboard", "rules": [
                    {"record": f"dashboard:query:{n}", "expr": grafana_to_promql(e)}
                    for n, (_, e) in enumerate(dashboard_exprs(self.dashboard))]}]}
                f = Path(tmp) / "dashboard-rules.json"
                f.write_text(json.dumps(rules))  # JSON is YAML
                out = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=300)
                if out.returncode != 0:
                    problems.append(f"promtool: dashboard queries: {(out.stdout + out.stderr).strip()}")
        else:
            self.r.note("promtool not found (PROMTOOL): rule syntax, rule unit tests and dashboard query syntax not checked")
        hadolint = os.environ.get("HADOLINT") or shutil.which("hadolint")
        if hadolint:
            out = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                problems.append(f"hadolint: {(out.stdout + out.stderr).strip()}")
        else:
            self.r.note("hadolint not found (HADOLINT): Dockerfile lint skipped")
        docker = os.environ.get("DOCKER") or shutil.which("docker")
        compose_ok = False
        if docker:
            v = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
            if v.returncode == 0:
                compose_ok = True
                out = subprocess.run([docker, "compose", "--env-file", ".env.example", "--profile", "seaweedfs",
                                      "--profile", "demo", "config", "--quiet"], cwd=COMPOSE_DIR,
                                     capture_output=True, text=True, timeout=120)
                if out.returncode != 0:
                    problems.append(f"docker compose config: {(out.stdout + out.stderr).strip()}")
        if not compose_ok:
            self.r.note("docker compose not available (DOCKER): `docker compose config` skipped")
        kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if kubectl:
            out = subprocess.run([kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                problems.append(f"kubectl kustomize: {(out.stdout + out.stderr).strip()}")
        else:
            self.r.note("kubectl not found (KUBECTL): `kubectl kustomize` skipped")
        return problems

    def config_check(self) -> list[str]:
        """`kyc-archiver config check` on each environment the deployment files define."""
        binary = os.environ.get("KYC_ARCHIVER_BIN")
        if not binary:
            for cand in (ROOT / "target/release/kyc-archiver", ROOT / "target/debug/kyc-archiver"):
                if cand.exists():
                    binary = str(cand)
                    break
        if not binary:
            self.r.note("no kyc-archiver binary (KYC_ARCHIVER_BIN or target/): `config check` of the deployment environments skipped")
            return []
        worker_env = {k: self.substitute(str(v)) for k, v in
                      ((self.compose.get("services") or {}).get("kyc-archiver", {}).get("environment") or {}).items()}
        secret = self.one("Secret").get("stringData") or {}
        systemd_env, _ = read_env_file(DEPLOY / "systemd/env.example")
        envs = {
            "kubernetes (ConfigMap + Secret template)": {**self.configmap(), **{k: str(v) for k, v in secret.items()}},
            "compose (kyc-archiver service, .env.example)": worker_env,
            "systemd (env.example)": systemd_env,
        }
        problems = []
        for name, env in envs.items():
            out = subprocess.run([binary, "config", "check"], env={"PATH": os.environ.get("PATH", ""), **env},
                                 capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                problems.append(f"{rel(Path(binary))} config check, {name}: {(out.stderr or out.stdout).strip()}")
        self.r.note(f"`config check` ran with {rel(Path(binary))}")
        return problems


def parse_all() -> tuple[int, list[str]]:
    """Parses every YAML and JSON file under deploy/: (files read, problems)."""
    problems = []
    count = 0
    for p in sorted(DEPLOY.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        try:
            if p.suffix in (".yaml", ".yml"):
                count += 1
                load_yaml_all(p)
            elif p.suffix == ".json":
                count += 1
                json.loads(p.read_text(encoding="utf-8"))
        except Exception as e:
            problems.append(f"{rel(p)}: {e}" if rel(p) not in str(e) else str(e))
    return count, problems


def walk_containers(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        for key in ("containers", "initContainers"):
            for c in doc.get(key) or []:
                if isinstance(c, dict):
                    yield c
        for v in doc.values():
            if isinstance(v, (dict, list)):
                yield from walk_containers(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from walk_containers(v)


def walk_panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels") or [])


def dashboard_exprs(d: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for p in walk_panels(d.get("panels") or []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                yield f"{p.get('title')!r} {t.get('refId')}", t["expr"]


def grafana_to_promql(expr: str) -> str:
    for var, val in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
        expr = expr.replace(var, val)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".*", expr)


def markdown_anchors(text: str) -> set[str]:
    """GitHub-style heading anchors (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    anchors = set()
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", body, re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        anchors.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return anchors


def prometheusrule_text() -> str:
    alerts = (DEPLOY / "prometheus/alerts.yaml").read_text(encoding="utf-8")
    body = alerts[alerts.index("\ngroups:") + 1:]
    indented = "".join(("  " + line if line.strip() else line) for line in body.splitlines(keepends=True))
    return (
        "# GENERATED from deploy/prometheus/alerts.yaml by `python3 deploy/check.py --write-prometheusrule`;\n"
        "# edit alerts.yaml, then regenerate. deploy/check.py fails while the two differ.\n"
        "# Needs the Prometheus Operator; your Prometheus may select rules by label (e.g. release: prometheus).\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: kyc-archiver\n"
        "  labels:\n"
        "    app.kubernetes.io/name: kyc-archiver\n"
        "    app.kubernetes.io/part-of: kyc-archiver\n"
        "spec:\n" + indented
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-prometheusrule", action="store_true",
                    help="regenerate deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/alerts.yaml")
    args = ap.parse_args()
    if args.write_prometheusrule:
        (K8S_DIR / "prometheusrule.yaml").write_text(prometheusrule_text(), encoding="utf-8")
        print(f"wrote {rel(K8S_DIR / 'prometheusrule.yaml')}")
        return 0

    report = Report()
    print(f"deploy/check.py: YAML via {'PyYAML ' + _pyyaml.__version__ + ' and the built-in reader' if _pyyaml else 'the built-in reader (PyYAML not installed)'}")
    try:
        checks = Checks(report)
    except Exception as e:
        report.check("parse: YAML and JSON under deploy/", lambda: parse_all()[1])
        report.check("setup: read the deployment files and the code", lambda: [f"{type(e).__name__}: {e}"])
        print(f"check.py: {report.passed} passed, {report.failed} failed")
        return 1
    report.check("parse: YAML and JSON under deploy/", checks.parse)
    report.check("compose: variables, mounts, ports, dependencies", checks.compose_checks)
    report.check("env: variable names exist in the code; secrets stay secret", checks.env_checks)
    report.check("kubernetes: kustomization, selectors, ports, probes, KEDA, rules", checks.kubernetes_checks)
    report.check("metrics: names, labels and values exist in metrics.rs", checks.metrics_checks)
    report.check("alerts: required rules, annotations, runbook anchors", checks.alert_checks)
    report.check("dashboard: datasource, panel ids, layout", checks.dashboard_checks)
    report.check("dockerfile: stages, user, ports, build context", checks.dockerfile_checks)
    report.check("systemd: hardening, stop timeout, systemd-analyze", checks.systemd_checks)
    report.check("docs: operations.md links, anchors, JSON, names", checks.docs_checks)
    report.check("hygiene: no registry host names, scripts executable", checks.hygiene_checks)
    report.check("tools: promtool, hadolint, docker compose, kubectl (when installed)", checks.tools)
    report.check("config check: deployment environments accepted by kyc-archiver", checks.config_check)
    for n in report.notes:
        print(f"note {n}")
    print(f"check.py: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
