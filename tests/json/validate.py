#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Validate rbx --json output against spec/json (PROTOCOL.md 22), with
Debian's python3-jsonschema (4.10 in Debian 12; newer versions work too).

  validate.py SCHEMA_DIR --lint
      every schema is a valid Draft 2020-12 schema, and every object in it
      lists all its members as required and allows no others (the stability
      rule of 22.1: members neither appear nor vanish unannounced);
  validate.py SCHEMA_DIR NAME FILE...
      every non-empty line of each FILE is one JSON object that NAME's
      schema accepts (NAME: "status" for status.schema.json);
  validate.py SCHEMA_DIR --manifest FILE
      the same for every line "NAME PATH [empty-ok]" of FILE, in one run
      (one interpreter start for a whole suite): prints "ok PATH" or
      "FAIL PATH: problem" per line.

Exit status 0 if all is well, 1 with one line per problem otherwise."""
import json
import os
import sys
import warnings

import jsonschema
from jsonschema import Draft202012Validator

warnings.simplefilter("ignore", DeprecationWarning)


def load(schema_dir):
    store = {}
    for f in sorted(os.listdir(schema_dir)):
        if f.endswith(".schema.json"):
            with open(os.path.join(schema_dir, f), encoding="utf-8") as fh:
                s = json.load(fh)
            store[f[: -len(".schema.json")]] = s
    return store


def validator(store, name):
    schema = store[name]
    by_id = {s["$id"]: s for s in store.values()}
    try:  # jsonschema >= 4.18: the referencing library
        from referencing import Registry, Resource

        reg = Registry().with_resources(
            (i, Resource.from_contents(s)) for i, s in by_id.items())
        return Draft202012Validator(schema, registry=reg)
    except ImportError:  # Debian 12's 4.10: RefResolver
        res = jsonschema.RefResolver(schema["$id"], schema, store=by_id)
        return Draft202012Validator(schema, resolver=res)


def has_version(store, s):
    """s has a version member, or is a oneOf (sync: one object per kind of
    line) each of whose branches has one, directly or in the schema it
    refers to."""
    if s.get("properties", {}).get("version") is not None:
        return True
    branches = s.get("oneOf")
    if not branches:
        return False
    for b in branches:
        ref = b.get("$ref", "")
        if ref.endswith(".schema.json") and ref[: -len(".schema.json")] in store:
            b = store[ref[: -len(".schema.json")]]
        if b.get("properties", {}).get("version") is None:
            return False
    return True


def lint(store):
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                props = set(node["properties"])
                if node.get("additionalProperties") is not False:
                    problems.append(f"{where}: additionalProperties is not false")
                missing = props - set(node.get("required", []))
                # error.file is the one optional member (22.3).
                if missing and not (where.startswith("error") and missing == {"file"}):
                    problems.append(f"{where}: members not required: {sorted(missing)}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    for name, s in store.items():
        try:
            Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            problems.append(f"{name}: not a valid schema: {e.message}")
        if name != "common" and name != "notice":
            if not has_version(store, s):
                problems.append(f"{name}: no version member")
        walk(s, name)
    return problems


def check_files(store, validators, name, paths, empty_ok=False):
    if name not in store:
        return [f"no schema {name}.schema.json"]
    if name not in validators:
        validators[name] = validator(store, name)
    v = validators[name]
    problems, n = [], 0
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                n += 1
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    problems.append(f"{path}:{lineno}: not JSON: {e}")
                    continue
                for err in sorted(v.iter_errors(doc), key=lambda e: list(e.path)):
                    where = "/".join(str(p) for p in err.path) or "(top)"
                    problems.append(f"{path}:{lineno}: {name}: {where}: {err.message}")
    if n == 0 and not empty_ok:
        problems.append(f"{' '.join(paths)}: no JSON line to check")
    return problems


def main(argv):
    if len(argv) == 4 and argv[2] == "--manifest":
        store, validators, bad = load(argv[1]), {}, 0
        with open(argv[3], encoding="utf-8") as fh:
            for entry in fh:
                parts = entry.split()
                if not parts:
                    continue
                problems = check_files(store, validators, parts[0], [parts[1]],
                                       len(parts) > 2 and parts[2] == "empty-ok")
                if problems:
                    bad += 1
                    print(f"FAIL {parts[1]}: {problems[0]}")
                else:
                    print(f"ok {parts[1]}")
        return 1 if bad else 0
    if len(argv) == 3 and argv[2] == "--lint":
        problems = lint(load(argv[1]))
    elif len(argv) >= 4:
        problems = check_files(load(argv[1]), {}, argv[2], argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
