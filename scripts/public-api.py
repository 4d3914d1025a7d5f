#!/usr/bin/env python3
"""Lists the public API of a crate from rustdoc's JSON, one item per line.

    scripts/public-api.py target/doc/mattermost_plugin.json [more.json ...]

Every item reachable from the crate root by a public path is listed with its
path, its kind and a signature (fields, variants, function inputs and output,
trait items, constant types); `pub use` re-exports are followed, into the
other crates whose JSON is given too, so an item keeps its line when it moves
to another crate behind a re-export. Items marked `#[doc(hidden)]` are not
in rustdoc's JSON and so not listed. Types are printed by their last path
segment, so the listing compares the API as a user writes it, not where each
type is defined.

Make the JSON with a stable toolchain:
    RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="-Z unstable-options --output-format json" \
        cargo doc -p mattermost-plugin --no-deps
Compare two listings with `diff`.
"""

import json
import sys


def load(paths):
    crates = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        root = data["index"][str(data["root"])]
        crates[root["name"]] = data
    return crates


def ty(t):
    """A type as a user writes it (last path segments only)."""
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "resolved_path":
        return v["path"].split("::")[-1] + generic_args(v.get("args"))
    if kind == "generic":
        return v
    if kind == "primitive":
        return v
    if kind == "borrowed_ref":
        lifetime = (v.get("lifetime") or "") + " " if v.get("lifetime") else ""
        mutable = "mut " if v.get("is_mutable") else ""
        return f"&{lifetime}{mutable}{ty(v['type'])}"
    if kind == "raw_pointer":
        return f"*{'mut' if v.get('is_mutable') else 'const'} {ty(v['type'])}"
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if kind == "slice":
        return f"[{ty(v)}]"
    if kind == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if kind == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if kind == "dyn_trait":
        return "dyn " + " + ".join(poly(p) for p in v["traits"])
    if kind == "qualified_path":
        trait = v.get("trait")
        trait = trait["path"].split("::")[-1] if trait else "_"
        return f"<{ty(v['self_type'])} as {trait}>::{v['name']}"
    if kind == "function_pointer":
        decl = v["sig"]
        return "fn(" + ", ".join(ty(x[1]) for x in decl["inputs"]) + ") -> " + ty(decl.get("output"))
    return kind


def generic_args(args):
    if not args:
        return ""
    (kind, v), = args.items()
    if kind == "angle_bracketed":
        parts = []
        for a in v.get("args", []):
            (k, x), = a.items()
            parts.append(ty(x) if k == "type" else str(x) if k != "const" else str(x.get("expr")))
        for c in v.get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding:
                (k, x), = binding["equality"].items()
                parts.append(f"{c['name']} = {ty(x) if k == 'type' else x}")
            else:
                parts.append(f"{c['name']}: " + " + ".join(bound(b) for b in binding.get("constraint", [])))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if kind == "parenthesized":
        return "(" + ", ".join(ty(x) for x in v["inputs"]) + ") -> " + ty(v.get("output"))
    return ""


def poly(p):
    return p["trait"]["path"].split("::")[-1] + generic_args(p["trait"].get("args"))


def bound(b):
    (kind, v), = b.items()
    if kind == "trait_bound":
        return v["trait"]["path"].split("::")[-1] + generic_args(v["trait"].get("args"))
    if kind == "outlives":
        return v
    return kind


def generics(g):
    params = []
    for p in g.get("params", []):
        (kind, v), = p["kind"].items()
        if kind == "type":
            bounds = " + ".join(bound(b) for b in v.get("bounds", []))
            params.append(p["name"] + (f": {bounds}" if bounds else ""))
        elif kind == "const":
            params.append(f"const {p['name']}: {ty(v['type'])}")
        elif kind == "lifetime":
            params.append(p["name"])
    wheres = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            wheres.append(ty(bp["type"]) + ": " + " + ".join(bound(b) for b in bp["bounds"]))
    out = "<" + ", ".join(params) + ">" if params else ""
    return out + (" where " + ", ".join(wheres) if wheres else "")


def function(name, f):
    sig = f["sig"]
    inputs = ", ".join(f"{n}: {ty(t)}" if n != "self" else ty(t) for n, t in sig["inputs"])
    header = f.get("header", {})
    prefix = ("const " if header.get("is_const") else "") + ("async " if header.get("is_async") else "")
    return f"{prefix}fn {name}{generics(f['generics'])}({inputs}) -> {ty(sig.get('output'))}"


class Lister:
    def __init__(self, crates, root_crate):
        self.crates = crates
        self.root = root_crate
        self.lines = set()
        self.seen = set()
        # Impls written in one crate for a type of another (the SDK's
        # `impl From<proto::AppError> for AppError`, AppError being the
        # runtime's): by the type's (crate, path).
        self.foreign_impls = {}
        for name, data in crates.items():
            for it in data["index"].values():
                imp = it["inner"].get("impl") if isinstance(it["inner"], dict) else None
                target = imp and imp["for"].get("resolved_path") if imp else None
                if not target:
                    continue
                summary = data["paths"].get(str(target["id"]))
                if summary is None or summary["crate_id"] == 0:
                    continue
                ext = data["external_crates"].get(str(summary["crate_id"]), {}).get("name")
                self.foreign_impls.setdefault((ext, tuple(summary["path"])), []).append((name, it))

    def own_path(self, crate, item):
        summary = self.crates[crate]["paths"].get(str(item["id"]))
        return (crate, tuple(summary["path"])) if summary else None

    def item(self, crate, id):
        return self.crates[crate]["index"].get(str(id))

    def resolve(self, crate, id):
        """(crate, item) for an id that may point into another crate."""
        data = self.crates[crate]
        it = data["index"].get(str(id))
        if it is not None:
            return crate, it
        summary = data["paths"].get(str(id))
        if summary is None:
            return None, None
        ext = data["external_crates"].get(str(summary["crate_id"]), {}).get("name")
        if ext not in self.crates:
            return None, None
        other = self.crates[ext]
        for oid, s in other["paths"].items():
            if s["crate_id"] == 0 and s["path"] == summary["path"]:
                found = other["index"].get(oid)
                if found is not None:
                    return ext, found
        return None, None

    def walk(self, crate, id, path):
        crate, it = self.resolve(crate, id)
        if it is None:
            return
        key = (crate, it["id"], path)
        if key in self.seen:
            return
        self.seen.add(key)
        (kind, inner), = it["inner"].items()
        if kind == "use":
            if inner.get("id") is None:
                return
            t_crate, target = self.resolve(crate, inner["id"])
            if target is None:
                self.lines.add(f"use {path}::{inner['name']} (external {inner['source']})")
                return
            if inner.get("is_glob"):
                (tk, ti), = target["inner"].items()
                for child in ti.get("items", []):
                    c_crate, c = self.resolve(t_crate, child)
                    if c is not None and c.get("visibility") == "public":
                        self.walk(t_crate, child, path)
                return
            renamed = dict(target, name=inner["name"])
            self.walk_item(t_crate, renamed, path)
        else:
            self.walk_item(crate, it, path)

    def walk_item(self, crate, it, path):
        (kind, inner), = it["inner"].items()
        here = f"{path}::{it['name']}"
        if kind == "module":
            self.lines.add(f"mod {here}")
            for child in inner["items"]:
                c_crate, c = self.resolve(crate, child)
                if c is not None and c.get("visibility") == "public":
                    self.walk(crate, child, here)
        elif kind == "struct":
            self.lines.add(f"struct {here}{generics(inner['generics'])}")
            (sk, sv), = inner["kind"].items() if isinstance(inner["kind"], dict) else (("unit", None),)
            fields = sv.get("fields", []) if isinstance(sv, dict) else (sv or [])
            for f in fields:
                _, field = self.resolve(crate, f)
                if field is not None and field.get("visibility") == "public":
                    self.lines.add(f"field {here}::{field['name']}: {ty(field['inner']['struct_field'])}")
            self.impls(crate, inner.get("impls", []), here)
            self.foreign(crate, it, here)
        elif kind == "enum":
            self.lines.add(f"enum {here}{generics(inner['generics'])}")
            for v in inner["variants"]:
                _, var = self.resolve(crate, v)
                vk = var["inner"]["variant"]["kind"]
                if isinstance(vk, dict) and "tuple" in vk:
                    parts = []
                    for f in vk["tuple"]:
                        _, field = self.resolve(crate, f) if f is not None else (None, None)
                        parts.append(ty(field["inner"]["struct_field"]) if field else "_")
                    self.lines.add(f"variant {here}::{var['name']}({', '.join(parts)})")
                elif isinstance(vk, dict) and "struct" in vk:
                    parts = []
                    for f in vk["struct"]["fields"]:
                        _, field = self.resolve(crate, f)
                        parts.append(f"{field['name']}: {ty(field['inner']['struct_field'])}")
                    self.lines.add(f"variant {here}::{var['name']} {{ {', '.join(parts)} }}")
                else:
                    self.lines.add(f"variant {here}::{var['name']}")
            self.impls(crate, inner.get("impls", []), here)
            self.foreign(crate, it, here)
        elif kind == "function":
            self.lines.add(f"{function(here, inner)}")
        elif kind == "trait":
            self.lines.add(f"trait {here}{generics(inner['generics'])}")
            for m in inner["items"]:
                _, mi = self.resolve(crate, m)
                self.member(mi, here)
        elif kind == "type_alias":
            self.lines.add(f"type {here}{generics(inner['generics'])} = {ty(inner['type'])}")
        elif kind == "constant":
            self.lines.add(f"const {here}: {ty(inner['type'])}")
        elif kind == "static":
            self.lines.add(f"static {here}: {ty(inner['type'])}")
        elif kind in ("macro", "proc_macro"):
            self.lines.add(f"macro {here}")
        else:
            self.lines.add(f"{kind} {here}")

    def member(self, mi, owner):
        if mi is None:
            return
        (k, v), = mi["inner"].items()
        if k == "function":
            self.lines.add(function(f"{owner}::{mi['name']}", v))
        elif k == "assoc_const":
            self.lines.add(f"const {owner}::{mi['name']}: {ty(v['type'])}")
        elif k == "assoc_type":
            self.lines.add(f"type {owner}::{mi['name']}")

    def foreign(self, crate, item, owner):
        for impl_crate, imp in self.foreign_impls.get(self.own_path(crate, item), []):
            self.impls(impl_crate, [imp["id"]], owner)

    def impls(self, crate, impls, owner):
        for i in impls:
            _, imp = self.resolve(crate, i)
            if imp is None:
                continue
            inner = imp["inner"]["impl"]
            if inner.get("is_synthetic") or inner.get("blanket_impl"):
                continue
            # rustdoc also lists, under a type, impls for other types that
            # name it (`impl Service<Empty> for Controller`): not its own.
            if ty(inner["for"]).split("<")[0] != owner.split("::")[-1]:
                continue
            trait = inner.get("trait")
            if trait:
                self.lines.add(f"impl {poly({'trait': trait})} for {owner}")
                continue
            for m in inner["items"]:
                _, mi = self.resolve(crate, m)
                if mi is not None and mi.get("visibility") == "public":
                    self.member(mi, owner)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    crates = load(sys.argv[1:])
    first = json.load(open(sys.argv[1]))
    root_name = first["index"][str(first["root"])]["name"]
    lister = Lister(crates, root_name)
    root = crates[root_name]
    for child in root["index"][str(root["root"])]["inner"]["module"]["items"]:
        it = root["index"].get(str(child))
        if it is not None and it.get("visibility") == "public":
            lister.walk(root_name, child, root_name)
    for line in sorted(lister.lines):
        print(line)


if __name__ == "__main__":
    main()
