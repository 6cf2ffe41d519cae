#!/usr/bin/python3
"""Validates an OpenAPI 3.1 document with Python's jsonschema (Draft 2020-12).

usage: validate_openapi.py SCHEMA DOCUMENT

- SCHEMA: the official OpenAPI 3.1 schema (see README.md here);
- DOCUMENT: the document to check (GET /openapi.json of a node).

Checks that the document is valid against the schema (formats included), and
that every schema under components.schemas is a valid JSON Schema 2020-12
schema (OpenAPI 3.1's default dialect; the official schema leaves Schema
Objects unchecked). Prints each error on a line and exits 1 when there is
any, 0 otherwise; 2 on bad usage or unreadable input.

Run it with Debian's /usr/bin/python3, which has python3-jsonschema.
"""

import json
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError as error:  # pragma: no cover - a broken installation
    print(f"cannot import jsonschema: {error}", file=sys.stderr)
    sys.exit(2)


def jsonschema_version():
    try:
        from importlib import metadata
        return metadata.version("jsonschema")
    except Exception:  # noqa: BLE001 - only for the summary line
        return "?"


def location(error):
    return "/" + "/".join(str(part) for part in error.absolute_path)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as file:
            schema = json.load(file)
        with open(argv[2], encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, ValueError) as error:
        print(f"cannot read the input: {error}", file=sys.stderr)
        return 2

    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [
        f"{location(error)}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]

    schemas = document.get("components", {}).get("schemas", {}) if isinstance(document, dict) else {}
    for name, component in schemas.items():
        try:
            Draft202012Validator.check_schema(component)
        except jsonschema.exceptions.SchemaError as error:
            problems.append(f"/components/schemas/{name}: not a JSON Schema 2020-12 schema: "
                            f"{error.message}")

    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s); schema {schema.get('$id', '?')}, "
          f"jsonschema {jsonschema_version()}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
