#!/usr/bin/env python3
"""Generate crates/api/src/protobuf/fields.txt: the protobuf field table of the Kubernetes
built-in types, which the protobuf request-body decoder (crates/api/src/protobuf) walks.

Two sources are joined on (message, field number):

- the `k8s-pb` crate (crates.io, Apache-2.0; prost bindings generated from the Kubernetes
  .proto files): each message's fields with their number, protobuf kind (string, bytes, bool,
  int32, int64, double, message, map) and, for messages, the message type;
- the Go API types (`k8s.io/api` and `k8s.io/apimachinery` sources): for each field with a
  `protobuf:"..."` struct tag, its JSON name, whether it is a Go pointer, whether its JSON tag
  says `omitempty`, and whether it is an embedded struct inlined into its parent's JSON
  (`VolumeSource` in `Volume`, `ProbeHandler` in `Probe`, ...). The decoder needs these to emit
  the JSON Go would marshal from the decoded object: an optional pointer set to zero stays,
  a non-pointer `omitempty` zero goes.

Usage:
  scripts/gen-proto-fields.py [--k8s-pb DIR] --api DIR --apimachinery DIR \
      --apiextensions-apiserver DIR [--out FILE]

DIR for --k8s-pb is the unpacked crate (~/.cargo/registry/src/*/k8s-pb-0.9.0, found
automatically when omitted); --api and --apimachinery are source trees of
github.com/kubernetes/api, github.com/kubernetes/apimachinery and
github.com/kubernetes/apiextensions-apiserver (any recent version: field numbers never change,
newer versions only add fields). Only messages whose Go struct is found are written: the
versions a Go tree no longer has are not served.

Output format, one message per block:
  M <schema name>
  <number> <json name or -> <card> <kind> <flags>
card: opt | rep | map. kind: a scalar kind, a message's schema name, or for maps
`<key kind>,<value kind or schema name>`. flags: `p` Go pointer, `e` omitempty, `i` inlined
into the parent's JSON, `-` none.
"""

import argparse
import glob
import os
import re
import sys

# k8s-pb module path prefix -> OpenAPI schema name prefix.
PB_ROOTS = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
    "metrics": "io.k8s.metrics",
}


def schema_prefix(mod_path):
    """['api', 'core', 'v1'] -> 'io.k8s.api.core.v1'."""
    root = PB_ROOTS.get(mod_path[0])
    if root is None:
        return None
    return ".".join([root] + mod_path[1:])


PROST_ATTR = re.compile(r'#\[prost\((.*)\)\]\s*$')
FIELD_DECL = re.compile(r'^\s*pub (?:r#)?(\w+):\s*(.*)$')


def resolve_type(mod_path, rust_type):
    """The schema name of the message type named in a prost field's Rust type."""
    # Innermost generic argument that is a path to a message (not String/Vec<u8>/scalars).
    candidates = re.findall(r'((?:super::|crate::)*(?:[a-z_0-9]+::)*[A-Z]\w*)', rust_type)
    skip = {"Option", "Vec", "BTreeMap", "String", "HashMap"}
    names = [c for c in candidates if c.split("::")[-1] not in skip]
    if not names:
        return None
    path = names[-1].split("::")
    base = list(mod_path)
    while path and path[0] in ("super", "crate"):
        if path[0] == "super":
            base.pop()
        else:
            base = []
        path = path[1:]
    full = base + path
    prefix = schema_prefix(full[:-1])
    if prefix is None:
        return None
    return prefix + "." + full[-1]


def parse_k8s_pb(root):
    """schema name -> {number: (snake name, card, kind)}."""
    messages = {}
    for file in glob.glob(os.path.join(root, "src", "**", "mod.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(file), os.path.join(root, "src"))
        mod_path = rel.split(os.sep)
        prefix = schema_prefix(mod_path)
        if prefix is None:
            continue
        lines = open(file, encoding="utf-8").read().split("\n")
        current = None
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r'^pub struct (\w+) \{', line)
            if m:
                current = prefix + "." + m.group(1)
                messages[current] = {}
                i += 1
                continue
            if line.startswith("}"):
                current = None
            m = PROST_ATTR.match(line.strip())
            if m and current:
                attr = m.group(1)
                # The declaration may wrap over several lines; join until the trailing comma.
                j = i + 1
                decl = lines[j].strip()
                while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                    j += 1
                    decl += " " + lines[j].strip()
                fm = FIELD_DECL.match(decl)
                if not fm:
                    sys.exit(f"unparsed field declaration in {file}: {decl}")
                snake, rust_type = fm.group(1), fm.group(2)
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                mm = re.match(r'btree_map = "(\w+), (\w+)"', attr)
                if mm:
                    key, val = mm.group(1), mm.group(2)
                    if val == "message":
                        val = resolve_type(mod_path, rust_type.split(",", 1)[1])
                    kind, card = f"{key},{val}", "map"
                else:
                    base = attr.split(",")[0].strip()
                    base = base.split("=")[0].strip()
                    card = "rep" if "repeated" in attr else "opt"
                    if base == "message":
                        kind = resolve_type(mod_path, rust_type)
                    else:
                        kind = base
                if kind is None or kind.endswith("None"):
                    sys.exit(f"unresolved type in {file}: {decl}")
                messages[current][tag] = (snake, card, kind)
                i = j + 1
                continue
            i += 1
    return messages


GO_STRUCT = re.compile(r'^type (\w+) struct \{\s*$')
GO_EMPTY_STRUCT = re.compile(r'^type (\w+) struct\s*\{\s*\}')
GO_STRING_LIST = re.compile(r'^type (\w+) \[\]string\s*$')
GO_FIELD = re.compile(r'^\s*([^`]*?)\s*`([^`]*)`')


def go_tag(tags, key):
    m = re.search(key + r':"([^"]*)"', tags)
    return m.group(1) if m else None


def parse_go_dir(directory, prefix, out):
    """Adds schema name -> {number: (json name, pointer, omitempty, inline)} for the structs of
    one Go package."""
    for file in sorted(glob.glob(os.path.join(directory, "*.go"))):
        base = os.path.basename(file)
        if base.endswith("_test.go") or "generated" in base:
            continue
        lines = open(file, encoding="utf-8").read().split("\n")
        struct = None
        depth = 0
        for line in lines:
            if struct is None:
                m = GO_EMPTY_STRUCT.match(line)
                if m:
                    out.setdefault(prefix + "." + m.group(1), {})
                    continue
                m = GO_STRING_LIST.match(line)
                if m:
                    # A named []string with a protobuf wrapper message {1: repeated items}:
                    # its JSON is the list itself, written as field name `*`.
                    out[prefix + "." + m.group(1)] = {1: ("*", False, False, False)}
                    continue
                m = GO_STRUCT.match(line)
                if m:
                    struct = prefix + "." + m.group(1)
                    depth = 1
                    out.setdefault(struct, {})
                continue
            code = line.split("//")[0]
            depth += code.count("{") - code.count("}")
            if depth <= 0:
                struct = None
                continue
            if depth != 1:
                continue
            m = GO_FIELD.match(line)
            if not m or line.strip().startswith("//"):
                continue
            decl, tags = m.group(1).split(), m.group(2)
            pb = go_tag(tags, "protobuf")
            if pb is None:
                continue
            parts = pb.split(",")
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            number = int(parts[1])
            js = go_tag(tags, "json") or ""
            js_parts = js.split(",")
            json_name = js_parts[0]
            omitempty = "omitempty" in js_parts[1:]
            embedded = len(decl) == 1
            go_type = decl[-1]
            inline = embedded and (json_name == "" or "inline" in js_parts[1:])
            if json_name == "" and not inline:
                json_name = decl[0]
            pointer = go_type.startswith("*")
            out[struct][number] = (json_name, pointer, omitempty, inline)


def parse_go(api_root, apimachinery_root, apiextensions_root):
    out = {}
    if apiextensions_root:
        parse_go_dir(os.path.join(apiextensions_root, "pkg", "apis", "apiextensions", "v1"),
                     "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1", out)
    for dirpath, _, files in os.walk(api_root):
        if not any(f.endswith(".go") for f in files):
            continue
        rel = os.path.relpath(dirpath, api_root)
        if rel == "." or rel.startswith("testdata"):
            continue
        parse_go_dir(dirpath, "io.k8s.api." + rel.replace(os.sep, "."), out)
    for dirpath, _, files in os.walk(os.path.join(apimachinery_root, "pkg")):
        if not any(f.endswith(".go") for f in files):
            continue
        rel = os.path.relpath(dirpath, apimachinery_root)
        parse_go_dir(dirpath, "io.k8s.apimachinery." + rel.replace(os.sep, "."), out)
    return out


def go_names(pb, go):
    """prost upper-camel-cases message names (`HttpGetAction`, `IscsiVolumeSource`); the schema
    names are the Go names (`HTTPGetAction`, `ISCSIVolumeSource`). Renames messages and message
    references to the Go struct of the same package whose name matches case-insensitively, and
    drops messages with no Go struct."""
    by_lower = {name.lower(): name for name in go}
    rename = {name: by_lower[name.lower()] for name in pb if name.lower() in by_lower}

    def fix(kind):
        if "," in kind:
            key, val = kind.split(",", 1)
            return f"{key},{rename.get(val, val)}"
        return rename.get(kind, kind)

    out = {}
    for name, fields in pb.items():
        if name not in rename:
            continue
        out[rename[name]] = {n: (snake, card, fix(kind)) for n, (snake, card, kind) in fields.items()}
    # Fields whose message type has no Go struct (an alpha field the Go tree dropped): left out,
    # so the decoder skips them as unknown fields.
    for name, fields in out.items():
        for n in list(fields):
            ref = fields[n][2].split(",")[-1]
            if "." in ref and ref not in out:
                print(f"dropped {name} field {n}: no Go struct {ref}", file=sys.stderr)
                del fields[n]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k8s-pb")
    ap.add_argument("--api", required=True)
    ap.add_argument("--apimachinery", required=True)
    ap.add_argument("--apiextensions-apiserver")
    ap.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "crates", "api", "src", "protobuf",
        "fields.txt"))
    args = ap.parse_args()
    pb_root = args.k8s_pb
    if pb_root is None:
        found = glob.glob(os.path.expanduser(
            "~/.cargo/registry/src/*/k8s-pb-0.9.0"))
        if not found:
            sys.exit("k8s-pb 0.9.0 not found; pass --k8s-pb")
        pb_root = found[0]
    pb = parse_k8s_pb(pb_root)
    go = parse_go(args.api, args.apimachinery, args.apiextensions_apiserver)
    pb = go_names(pb, go)

    missing = 0
    lines = [
        "# The protobuf fields of the Kubernetes API types, generated by",
        "# scripts/gen-proto-fields.py from the k8s-pb 0.9.0 crate and the k8s.io/api and",
        "# k8s.io/apimachinery Go types. Do not edit.",
        "# <number> <json name|-> <opt|rep|map> <kind> <flags: p pointer, e omitempty, i inline>",
    ]
    for name in sorted(pb):
        fields = pb[name]
        go_fields = go.get(name, {})
        lines.append(f"M {name}")
        for number in sorted(fields):
            snake, card, kind = fields[number]
            if number in go_fields:
                json_name, pointer, omitempty, inline = go_fields[number]
            else:
                # No Go struct tag known (a type outside the Go trees given): lowerCamelCase
                # of the proto name, omitted when empty.
                missing += 1
                head, *rest = snake.split("_")
                json_name = head + "".join(w[:1].upper() + w[1:] for w in rest)
                pointer, omitempty, inline = False, True, False
            flags = ("p" if pointer else "") + ("e" if omitempty else "") + ("i" if inline else "")
            lines.append(
                f"{number} {'-' if inline else json_name} {card} {kind} {flags or '-'}")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(pb)} messages, {missing} fields without Go tags -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
