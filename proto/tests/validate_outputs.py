#!/usr/bin/env python3
"""Validate Trellis exports with the reference validators of each format.

Usage: validate_outputs.py DIR

  *.csaf.json  CSAF 2.0: JSON schema plus the mandatory tests (6.1.x), by the PyPI package `csaf`
               (`csaf validate --spec-version v20 --no-network`), which ships the OASIS CSAF 2.0
               schema and implements the mandatory tests.
  *.stix.json  STIX 2.1 bundles, by the PyPI package `stix2-validator` (OASIS's validator).

Exit status: 0 when every file is valid, 1 when one is not, 2 when a validator is missing
(`pip install csaf stix2-validator`), 3 on usage errors. Warnings (STIX "SHOULD"s) are printed
but do not fail the run.
"""

import glob
import logging
import os
import subprocess
import sys


def validate_csaf(files):
    try:
        import csaf  # noqa: F401  (presence check; the CLI does the work)
    except ImportError:
        print("validator missing: pip install csaf", file=sys.stderr)
        return None
    if not files:
        return True
    cmd = [sys.executable, "-m", "csaf", "validate", "--spec-version", "v20", "--no-network", "--quiet", *files]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(proc.stderr.strip(), file=sys.stderr)
    return proc.returncode == 0


def validate_stix(files):
    try:
        from stix2validator import ValidationOptions, print_results, validate_file
    except ImportError:
        print("validator missing: pip install stix2-validator", file=sys.stderr)
        return None
    ok = True
    # Warnings are counted, not printed: deterministic ids are version-5-like by design, which
    # the validator's "SHOULD use UUIDv4" check reports for every object.
    logging.getLogger("stix2validator").setLevel(logging.ERROR)
    options = ValidationOptions(version="2.1")
    for f in files:
        result = validate_file(f, options)
        warnings = sum(len(o.warnings) for o in result.object_results)
        print(f"STIX {os.path.basename(f)}: {'valid' if result.is_valid else 'INVALID'} ({warnings} warnings)")
        if not result.is_valid:
            print_results(result)
        ok = ok and result.is_valid
    return ok


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__, file=sys.stderr)
        return 3
    d = argv[1]
    csaf_files = sorted(glob.glob(os.path.join(d, "*.csaf.json")))
    stix_files = sorted(glob.glob(os.path.join(d, "*.stix.json")))
    if not csaf_files and not stix_files:
        print(f"no *.csaf.json or *.stix.json in {d}", file=sys.stderr)
        return 3
    results = [validate_csaf(csaf_files), validate_stix(stix_files)]
    if None in results:
        return 2
    print(f"validated {len(csaf_files)} CSAF and {len(stix_files)} STIX files")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
