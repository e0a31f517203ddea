#!/usr/bin/env python3
"""Validates FHIR JSON documents against the FHIR models of fhir.resources (PyPI).

fhir.resources ships R4B, the technical correction of R4 whose Task, ServiceRequest, Organization,
Bundle and OperationOutcome are R4's. Each file is read, its resourceType looked up, and the model
validates every element (names, types, cardinality, code value sets fhir.resources checks). Exit 0
when every file validates; otherwise each failure is printed and the exit status is 1.
Usage: validate_fhir.py FILE...
"""
import importlib
import json
import sys

try:
    import fhir.resources.R4B  # noqa: F401
except ImportError:
    print("fhir.resources is not installed: python3 -m pip install fhir.resources", file=sys.stderr)
    sys.exit(2)

failures = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    kind = document.get("resourceType", "")
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
        model = getattr(module, kind)
        model.model_validate(document) if hasattr(model, "model_validate") else model.parse_obj(document)
    except Exception as error:  # a validation error names the element at fault
        failures += 1
        print(f"{path}: {kind}: {error}")
print(f"{len(sys.argv) - 1 - failures} of {len(sys.argv) - 1} FHIR documents valid")
sys.exit(1 if failures else 0)
