#!/usr/bin/env python3
"""The file format's JSON Schema (`processpype config-schema`) is a valid
2020-12 schema, accepts the demo file and refuses a misspelt key.

Usage: check_schema.py PROCESSPYPE_BINARY DEMO_YAML"""
import json
import subprocess
import sys

import jsonschema
import yaml


def main():
    binary, demo = sys.argv[1], sys.argv[2]
    schema = json.loads(subprocess.run([binary, "config-schema"], check=True,
                                       capture_output=True, text=True).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    with open(demo) as file:
        document = yaml.safe_load(file)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(document)]
    if errors:
        sys.exit("the demo file does not validate:\n" + "\n".join(errors))
    document.setdefault("server", {})["prot"] = 1
    if validator.is_valid(document):
        sys.exit("a misspelt server key validates")
    document["server"].pop("prot")
    document.setdefault("services", {})["typo"] = {"type": "echo", "max_length": "many"}
    if validator.is_valid(document):
        sys.exit("an echo instance with max_length 'many' validates")
    print("ok: the schema is valid, the demo file validates, mistakes do not")


if __name__ == "__main__":
    main()
