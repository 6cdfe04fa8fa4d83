#!/usr/bin/env python3
"""Filler elements for the daemon's table, as captured with `nft -s list table`.

  fillers.py TABLE.nft FROM TO   > fill.nft

For every set and map keyed `ip saddr . ip daddr . esp spi`, adds filler keys FROM..TO-1
shaped like the learned session the captured table holds (same timeout and value):
outbound keys are other clients (10.x.y.z) and SPIs towards the server, inbound keys are
other SPIs from the server to the NAT address. Empty sets get outbound keys. Sets with a
`size` (the daemon gives each its session limit, 65536) are filled to 100 below it. Print in
chunks of 1000 elements a line; apply ~25 lines per `nft -f` (one transaction of 100k
elements in several sets fails with ENOBUFS).
"""
import re
import sys

OUT = "192.168.1.2 . 203.0.113.1 . 4096"
IN = "203.0.113.1 . 203.0.113.7 . 8192"


def blocks(text):
    for m in re.finditer(r"\n\t(set|map) (\w+) \{\n(.*?)\n\t\}", text, re.S):
        yield m.group(2), m.group(3)


def main():
    text = open(sys.argv[1]).read()
    lo, hi = int(sys.argv[2]), int(sys.argv[3])
    table = re.search(r"^table (ip \w+)", text, re.M).group(1)
    for name, body in blocks(text):
        if "typeof ip saddr . ip daddr . esp spi" not in body:
            continue
        m = re.search(r"elements = \{(.*?)\}", body, re.S)
        elements = [e.strip() for e in m.group(1).split(",")] if m else []
        shapes = []
        for e in elements:
            if e.startswith(OUT):
                shapes.append(("out", e[len(OUT):]))
            elif e.startswith(IN):
                shapes.append(("in", e[len(IN):]))
        if not shapes:
            shapes = [("out", "")]
        # A set with a size (nft gives dynamic sets 65535 by default) takes no more than that.
        size = re.search(r"\bsize (\d+)", body)
        top = min(hi, int(size.group(1)) - 100) if size else hi
        for kind, suffix in shapes:
            batch = []
            for i in range(lo, top):
                if kind == "out":
                    key = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} . 203.0.113.1 . {0x40000000 + i}"
                else:
                    key = f"203.0.113.1 . 203.0.113.7 . {0x50000000 + i}"
                batch.append(key + suffix)
                if len(batch) == 1000:
                    print(f"add element {table} {name} {{ {', '.join(batch)} }}")
                    batch = []
            if batch:
                print(f"add element {table} {name} {{ {', '.join(batch)} }}")


main()
