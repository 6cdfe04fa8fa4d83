#!/usr/bin/env python3
"""UDP request/response latency of IKE-shaped messages, for bench/datapath.sh.

  ike_rtt.py server ADDR PORT
  ike_rtt.py client SRC DST PORT COUNT INTERVAL

The client sends COUNT IKEv2 IKE_SA_INIT requests (same SPI, message id 0: what the router
sees as retransmissions of one exchange) from SRC:PORT to DST:PORT, one every INTERVAL
seconds, and times each answer; the server answers each with the response flag set and a
responder SPI. The first 20 are warm-up (the first creates the router's IKE NAT mapping).
Prints: n=.. lost=.. p50_us=.. p90_us=.. p99_us=.. max_us=..
"""
import socket
import struct
import sys
import time

BODY = b"\x5a" * 40


def header(rspi, flags):
    return struct.pack("!QQBBBBII", 0x1122334455667788, rspi, 33, 0x20, 34, flags, 0, 28 + len(BODY)) + BODY


def server(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    answer = header(0x99AABBCCDDEEFF00, 0x20)
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(answer, peer)


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def client(src, dst, port, count, interval):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, port))
    s.settimeout(0.2)
    request = header(0, 0x08)
    rtts, lost = [], 0
    for i in range(count + 20):
        t0 = time.perf_counter_ns()
        s.sendto(request, (dst, port))
        try:
            s.recv(2048)
            rtt = (time.perf_counter_ns() - t0) / 1000
            if i >= 20:
                rtts.append(rtt)
        except socket.timeout:
            if i >= 20:
                lost += 1
        time.sleep(interval)
    rtts.sort()
    if not rtts:
        print(f"n=0 lost={lost} p50_us=nan p90_us=nan p99_us=nan max_us=nan")
        return
    print(f"n={len(rtts)} lost={lost} p50_us={pct(rtts, 0.5):.0f} p90_us={pct(rtts, 0.9):.0f} "
          f"p99_us={pct(rtts, 0.99):.0f} max_us={rtts[-1]:.0f}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "server":
        server(a[1], int(a[2]))
    else:
        client(a[1], a[2], int(a[3]), int(a[4]), float(a[5]))
