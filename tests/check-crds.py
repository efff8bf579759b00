#!/usr/bin/env python3
"""Validates the custom resources of a rendered chart (a JSON array of objects on stdin)
against their CustomResourceDefinitions' schemas, the way kube-apiserver's strict field
validation does: wrong types, missing required fields and unknown fields (where the
schema does not preserve them) are errors, and so is a kind of a group whose CRDs were
given but not its own. Other groups are left to other checks (k8s.io/api types: fakeapi
check-manifests).

Usage: check-crds.py CRD_DIR... < objects.json   (exit 1 if any object is invalid)"""

import glob
import json
import os
import sys

import jsonschema
import yaml


def strict(schema):
    """Unknown fields are errors unless the schema keeps them (structural schemas)."""
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def load_crds(dirs):
    schemas = {}
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
            with open(path) as f:
                for crd in yaml.safe_load_all(f):
                    if not crd or crd.get("kind") != "CustomResourceDefinition":
                        continue
                    spec = crd["spec"]
                    for v in spec["versions"]:
                        key = "%s/%s/%s" % (spec["group"], v["name"], spec["names"]["kind"])
                        schema = strict(v["schema"]["openAPIV3Schema"])
                        # metadata is the API server's ObjectMeta, not the CRD's to define.
                        schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                        schemas[key] = schema
    return schemas


def main():
    schemas = load_crds(sys.argv[1:])
    if not schemas:
        sys.exit("no CustomResourceDefinition found in %s" % sys.argv[1:])
    failed = 0
    for obj in json.load(sys.stdin):
        key = "%s/%s" % (obj.get("apiVersion"), obj.get("kind"))
        name = "%s %s" % (key, obj.get("metadata", {}).get("name"))
        schema = schemas.get(key)
        if schema is None:
            group = key.split("/")[0]
            if any(k.startswith(group + "/") for k in schemas):
                print("no CRD for %s (its group's CRDs were given)" % name)
                failed += 1
            continue
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        for e in errors:
            print("invalid: %s: %s: %s" % (name, "/".join(str(p) for p in e.path), e.message))
        failed += bool(errors)
        if not errors:
            print("ok: %s" % name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
