#!/usr/bin/env python3
"""Regenerate flags/countries.tsv from ISO 3166-1 as Debian's iso-codes package ships it.

The codes are the book's 194 (flags/country_codes.txt); the names come from ISO 3166
(the common name where ISO gives one, e.g. "Bolivia" rather than "Bolivia, Plurinational
State of"), and the TLD is the code in lower case, except for the few countries whose
ccTLD differs from their ISO code (GB -> .uk).

Usage: apt-get install iso-codes && python3 scripts/make-countries.py
"""
import json
import pathlib

ISO = pathlib.Path("/usr/share/iso-codes/json/iso_3166-1.json")
ROOT = pathlib.Path(__file__).resolve().parent.parent
TLD_EXCEPTIONS = {"GB": ".uk"}

entries = {e["alpha_2"]: e for e in json.loads(ISO.read_text())["3166-1"]}
codes = (ROOT / "flags" / "country_codes.txt").read_text().split()
lines = ["# code\tcountry\ttld  (ISO 3166-1 via Debian iso-codes; see scripts/make-countries.py)"]
for cc in codes:
    e = entries[cc]
    name = e.get("common_name", e["name"])
    tld = TLD_EXCEPTIONS.get(cc, "." + cc.lower())
    lines.append(f"{cc}\t{name}\t{tld}")
(ROOT / "flags" / "countries.tsv").write_text("\n".join(lines) + "\n")
print(f"wrote {len(codes)} countries")
