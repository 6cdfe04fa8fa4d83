#!/usr/bin/env python3
"""Sends crafted IKE (UDP) or ESP (raw IP protocol 50) packets for the host daemon test.

  packets.py ike SRC SPORT DST DPORT VERSION EXCHANGE MSGID ISPI RSPI [FLAGS]
  packets.py esp SRC DST SPI COUNT
"""
import socket
import struct
import sys


def ike(src, sport, dst, dport, version, exchange, msgid, ispi, rspi, flags=0):
    body = b"\x5a" * 40
    header = struct.pack("!QQBBBBII", ispi, rspi, 46 if version == 2 else 8, version << 4,
                         exchange, flags, msgid, 28 + len(body))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.sendto(header + body, (dst, dport))


def esp(src, dst, spi, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
    s.bind((src, 0))
    for seq in range(1, count + 1):
        s.sendto(struct.pack("!II", spi, seq) + b"\xab" * 48, (dst, 0))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "ike":
        ike(a[1], int(a[2]), a[3], int(a[4]), int(a[5]), int(a[6]), int(a[7], 0), int(a[8], 0), int(a[9], 0),
            int(a[10], 0) if len(a) > 10 else 0)
    elif a[0] == "esp":
        esp(a[1], a[2], int(a[3], 0), int(a[4]))
    else:
        sys.exit("usage: packets.py ike|esp ...")
