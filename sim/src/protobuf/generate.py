#!/usr/bin/env python3
"""Writes the simulator's protobuf message table (sim/src/protobuf/messages.txt) from the
sources of two crates in Cargo.lock: k8s-pb (the Kubernetes protobuf messages: field numbers
and wire types) and k8s-openapi (the JSON name of each field, which prost's snake_case names
lose: `podIPs` becomes `pod_ips`). A test runs this and fails when the committed table differs.

Usage: generate.py K8S_PB_SRC K8S_OPENAPI_SRC > messages.txt
"""
import os
import re
import sys

FIELD = re.compile(
    r"#\[prost\(([^\]]*)\)\]\s*\n(?:\s*///[^\n]*\n|\s*#\[[^\n]*\n)*\s*pub (?:r#)?(\w+):",
    re.S,
)
STRUCT = re.compile(r"^pub struct (\w+) \{\n(.*?)^\}", re.S | re.M)
RESOURCE = re.compile(
    r'impl crate::Resource for (\w+) \{\s*const API_VERSION: &\'static str = "([^"]*)";.*?const KIND: &\'static str = "([^"]*)";',
    re.S,
)
OPENAPI_KEY = re.compile(r'"([^"]+)" => Field::Key_(\w+),')
OPENAPI_STRUCT = re.compile(r"^pub struct (\w+) \{", re.M)


def squash(name):
    return name.replace("_", "").lower()


def openapi_names(root):
    """(module path, squashed struct name) -> {squashed field name: JSON name}."""
    names = {}
    for dirpath, _, files in os.walk(root):
        module = os.path.relpath(dirpath, root).replace(os.sep, ".")
        for f in files:
            if not f.endswith(".rs"):
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            structs = OPENAPI_STRUCT.findall(text)
            if not structs:
                continue
            fields = {squash(rust): json for json, rust in OPENAPI_KEY.findall(text)}
            names.setdefault((module, squash(structs[0])), {}).update(fields)
    return names


def resolve(module, rust_type):
    """A prost field type (relative Rust path) -> dotted message path."""
    t = rust_type
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper) : -1]
    parts = module.split(".")
    segments = t.split("::")
    while segments and segments[0] == "super":
        parts.pop()
        segments.pop(0)
    if segments and segments[0] == "crate":
        parts = []
        segments.pop(0)
    return ".".join(parts + segments)


def field_type(body, start):
    """The Rust type that starts at `start`: up to the first comma outside angle brackets."""
    depth = 0
    for i in range(start, len(body)):
        c = body[i]
        depth += (c == "<") - (c == ">")
        if c == "," and depth == 0:
            return re.sub(r"\s+", "", body[start:i]).replace(",>", ">").replace(",", ", ")
    raise ValueError(f"unterminated field type at {body[start:start + 60]!r}")


def lower_camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# JSON names no rule derives: JSON Schema's own keywords.
SPELLED = {"ref": "$ref"}

# A field written as `-` is inline: Go embeds the struct (`json:",inline"`), so JSON shows
# its fields at the parent's level while protobuf nests them in a message of their own.
INLINE = "-"


def main():
    pb_root, openapi_root = sys.argv[1], sys.argv[2]
    json_names = openapi_names(openapi_root)
    by_struct = {}
    for (module, struct), fields in json_names.items():
        by_struct.setdefault(struct, fields)
    # Types k8s-openapi leaves out (lists, beta versions) spell their fields as the types it has.
    anywhere = {field: json for fields in json_names.values() for field, json in fields.items()}
    messages, resources = {}, []
    for dirpath, _, files in sorted(os.walk(pb_root)):
        if "mod.rs" not in files:
            continue
        module = os.path.relpath(dirpath, pb_root).replace(os.sep, ".")
        text = open(os.path.join(dirpath, "mod.rs"), encoding="utf-8").read()
        for name, api_version, kind in RESOURCE.findall(text):
            resources.append(f"R {api_version} {kind} {module}.{name}")
        for name, body in STRUCT.findall(text):
            fields = []
            for m in FIELD.finditer(body):
                attrs, field = m.groups()
                fields.append((attrs, field, field_type(body, m.end())))
            messages[f"{module}.{name}"] = (module, name, fields)

    out = []
    for path, (module, name, fields) in messages.items():
        known = json_names.get((module, squash(name))) or by_struct.get(squash(name))
        out.append(f"M {path}")
        for attrs, field, rust_type in fields:
            tag = re.search(r'tag = "(\d+)"', attrs).group(1)
            json = SPELLED.get(field) or (known or {}).get(squash(field))
            json = json or anywhere.get(squash(field), lower_camel(field))
            entry = re.match(r'btree_map = "(\w+), (\w+)"', attrs)
            attrs = [a.strip() for a in attrs.split(",")]
            if entry:
                key, value = entry.groups()
                if value == "message":
                    inner = rust_type[:-1].rsplit(",", 1)[-1].strip()
                    value = "message:" + resolve(module, inner)
                out.append(f"F {tag} {json} map {key} {value}")
                continue
            wire = attrs[0].split(" ")[0]
            card = "rep" if "repeated" in attrs else "opt"
            if wire != "message":
                out.append(f"F {tag} {json} {card} {wire}")
                continue
            target = resolve(module, rust_type)
            nested = [squash(f) for _, f, _ in messages.get(target, (0, 0, []))[2]]
            if known and squash(field) not in known and field not in SPELLED:
                if any(f in known for f in nested):
                    json = INLINE
            out.append(f"F {tag} {json} {card} message:{target}")
    sys.stdout.write("\n".join(sorted(resources) + out) + "\n")


if __name__ == "__main__":
    main()
