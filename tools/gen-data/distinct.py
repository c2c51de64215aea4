#!/usr/bin/env python3
"""Counts how varied a `shikaku gen` dataset is.

Usage: distinct.py OUT_DIR

Reads OUT_DIR/eligibility.csv (one row per qualification; persons appear on
one or more rows) and prints, over distinct persons (linkage_no), the number
of distinct family names, given names, full names, towns (the address up to
its lot number, building part dropped), postal codes and addresses; and over
all rows, the number of distinct employers. Then the gzip size of the
eligibility file per person, a rough compressibility figure.
"""

import csv
import re
import sys
import zlib

LOT = re.compile(r"(?:[一二三四五六七八九十]+丁目)?[0-9].*$")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1].rstrip("/") + "/eligibility.csv"
    persons = set()
    family, given, full, towns, postal, addresses, employers = (
        set(), set(), set(), set(), set(), set(), set())
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    compressed = 0
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            employer = row["employer_name"]
            if employer:
                employers.add(employer)
            linkage = row["linkage_no"]
            if linkage in persons:
                continue
            persons.add(linkage)
            surname, _, first = row["name"].partition(" ")
            family.add(surname)
            given.add(first)
            full.add(row["name"])
            address = row["address"].split(" ")[0]
            addresses.add(row["address"])
            towns.add(LOT.sub("", address))
            postal.add(row["postal_code"])
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            compressed += len(compressor.compress(block))
    compressed += len(compressor.flush())
    print(f"persons            {len(persons):>10}")
    print(f"family names       {len(family):>10}")
    print(f"given names        {len(given):>10}")
    print(f"full names         {len(full):>10}")
    print(f"towns              {len(towns):>10}")
    print(f"postal codes       {len(postal):>10}")
    print(f"addresses          {len(addresses):>10}")
    print(f"employers          {len(employers):>10}")
    print(f"gzip bytes/person  {compressed / max(len(persons), 1):>10.1f}")


if __name__ == "__main__":
    main()
