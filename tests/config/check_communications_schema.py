#!/usr/bin/env python3
"""The JSON Schema of `processpype config-schema` accepts the `communications`
YAML of docs/communications.md, and refuses a key of another backend type, a
backend without a type and a telegram chat without chat_id.

Usage: check_communications_schema.py PROCESSPYPE_BINARY COMMUNICATIONS_MD"""
import copy
import json
import re
import subprocess
import sys

import jsonschema
import yaml


def documented_file(path):
    """The first ```yaml block of the page."""
    with open(path, encoding="utf-8") as page:
        match = re.search(r"```yaml\n(.*?)```", page.read(), re.S)
    if not match:
        sys.exit(f"{path}: no yaml block")
    return yaml.safe_load(match.group(1))


def main():
    binary, page = sys.argv[1], sys.argv[2]
    schema = json.loads(subprocess.run([binary, "config-schema"], check=True,
                                       capture_output=True, text=True).stdout)
    validator = jsonschema.Draft202012Validator(schema)
    document = documented_file(page)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(document)]
    if errors:
        sys.exit("the documented file does not validate:\n" + "\n".join(errors))

    backends = document["communications"]["backends"]
    mistakes = {
        "an email backend with a url": lambda b: b["ops-mail"].update(url="https://x"),
        "a backend without a type": lambda b: b["ops-hook"].pop("type"),
        "a telegram chat without chat_id": lambda b: b["ops-bot"]["chats"]["default"].pop("chat_id"),
        "a misspelt webhook key": lambda b: b["ops-hook"].update(timout_seconds=5),
    }
    for name, make in mistakes.items():
        wrong = copy.deepcopy(document)
        make(wrong["communications"]["backends"])
        if validator.is_valid(wrong):
            sys.exit(f"{name} validates")
    print("ok: the documented file validates, mistakes do not")


if __name__ == "__main__":
    main()
