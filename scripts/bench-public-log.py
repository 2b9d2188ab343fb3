#!/usr/bin/env python3
"""Writes a public session log (docs/FORMATS.md §9.8) for scripts/bench-public-log.sh, without
the tools: one session direction of ENTRIES entries in all (send-open, sent messages, send-close)
with a checkpoint after every SPACING unsealed entries and one after the close, as a writer with
the default --checkpoint-entries writes it. Prints the log's audit key (scaudit1...) on stdout.

Usage: bench-public-log.py ENTRIES SPACING LOGFILE

Per §9.8: tag(i) = SHA-256("SecureChat v1 public log entry" || tag(i-1) || body(i)), tag(-1) = 32
zero bytes; a checkpoint's text is "next <pk(J+1) hex> signature <sig hex>" with
sig = Ed25519(sk(J), "SecureChat v1 log checkpoint" || tag(i-1) || body up to "signature "),
seed(J+1) = SHA-256("SecureChat v1 log signing key evolution" || seed(J)), pk(0) the audit key.
"""

import hashlib
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ENTRY_LABEL = b"SecureChat v1 public log entry"
CHECKPOINT_LABEL = b"SecureChat v1 log checkpoint"
EVOLUTION_LABEL = b"SecureChat v1 log signing key evolution"
TIME = b"2026-12-04T20:00:00.000000Z"
SESSION = b"00112233445566778899aabbccddeeff"


def bech32m(prefix, data):
    """BIP 350 Bech32m of 8-bit data, as Bech32m.encode does (§12.1)."""
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    values, acc, bits = [], 0, 0
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            values.append((acc >> bits) & 31)
    if bits:
        values.append((acc << (5 - bits)) & 31)

    def polymod(vals):
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in vals:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    expanded = [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]
    mod = polymod(expanded + values + [0] * 6) ^ 0x2BC830A3
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return prefix + "1" + "".join(charset[v] for v in values + checksum)


def public_key(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def main():
    entries, spacing, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    seed = os.urandom(32)
    print(bech32m("scaudit", public_key(seed)))
    sha256 = hashlib.sha256
    previous = bytes(32)
    epoch = 0
    unsealed = 0
    index = 0
    out = []
    with open(path, "wb") as log:

        def add(body):
            nonlocal previous, index, unsealed
            previous = sha256(ENTRY_LABEL + previous + body).digest()
            out.append(body + b" " + previous.hex().encode() + b"\n")
            index += 1
            unsealed += 1

        def checkpoint():
            nonlocal seed, epoch, unsealed
            next_seed = sha256(EVOLUTION_LABEL + seed).digest()
            body = b"%d %s checkpoint - - %d next %s signature " % (
                index,
                TIME,
                epoch,
                public_key(next_seed).hex().encode(),
            )
            signature = Ed25519PrivateKey.from_private_bytes(seed).sign(CHECKPOINT_LABEL + previous + body)
            add(body + signature.hex().encode())
            seed, epoch, unsealed = next_seed, epoch + 1, 0

        add(b"0 %s send-open %s bob - local alice code 123 456 789 012" % (TIME, SESSION))
        sequence = 0
        # The last two lines are the close and its checkpoint.
        while index < entries - 2:
            if unsealed >= spacing:
                checkpoint()
                continue
            add(
                b"%d %s sent %s bob %d message %d: the quick brown fox jumps over the lazy dog\\n"
                % (index, TIME, SESSION, sequence, sequence)
            )
            sequence += 1
            if len(out) >= 65536:
                log.write(b"".join(out))
                out.clear()
        add(b"%d %s send-close %s bob - %d messages; final frame sent" % (index, TIME, SESSION, sequence))
        checkpoint()
        log.write(b"".join(out))


if __name__ == "__main__":
    main()
