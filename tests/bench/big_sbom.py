#!/usr/bin/env python3
"""Write a CycloneDX 1.5 SBOM of N npm components (default 200,000) for the SBOM size benchmark.

Usage: big_sbom.py OUT.json [N]

Each component has a type, name, version, purl, bom-ref, a SHA-256 hash and an SPDX licence id,
as generators such as cdxgen write them; 200,000 components come to about 66 MB. Component 0 is
ws 6.2.1 and component 1 minimist 0.0.8, which the test fixture `osv-synthetic-npm.json` covers,
so the benchmark also checks that the matches are found.
"""
import hashlib
import json
import sys

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
with open(out, "w") as f:
    f.write('{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"urn:uuid:0f4e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b",')
    f.write('"version":1,"metadata":{"timestamp":"2024-05-03T08:00:00Z","component":{"type":"application",')
    f.write('"name":"monorepo","version":"1.0.0","bom-ref":"app"}},"components":[')
    for i in range(n):
        if i == 0:
            name, version = "ws", "6.2.1"
        elif i == 1:
            name, version = "minimist", "0.0.8"
        else:
            name, version = f"generated-package-{i:06d}", f"{i % 7}.{i % 13}.{i % 29}"
        purl = f"pkg:npm/%40bench/{name}@{version}" if i > 1 else f"pkg:npm/{name}@{version}"
        c = {
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(purl.encode()).hexdigest()}],
            "licenses": [{"license": {"id": "MIT"}}],
        }
        if i:
            f.write(",")
        f.write(json.dumps(c, separators=(",", ":")))
    f.write("]}\n")
