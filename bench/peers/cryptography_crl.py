"""The Python `cryptography` peer of verify-bench: the same CRL work as honnin's CrlIndex.

Usage: cryptography_crl.py CRL.der CA.der LOOKUPS.bin

Loads the DER CRL (x509.load_der_x509_crl), builds a dict serial -> RevokedCertificate (the
index), looks up every serial of LOOKUPS.bin (u64 little-endian) once, then checks the CRL's
signature with the CA's public key. Prints key=value lines: seconds and bytes.
"""

import struct
import sys
import time

import cryptography
from cryptography import x509


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    crl_path, ca_path, lookups_path = sys.argv[1:4]
    with open(ca_path, "rb") as f:
        ca = x509.load_der_x509_certificate(f.read())
    with open(lookups_path, "rb") as f:
        keys = [k for (k,) in struct.iter_unpack("<Q", f.read())]
    before = status("VmRSS")
    with open(crl_path, "rb") as f:
        data = f.read()
    start = time.perf_counter()
    crl = x509.load_der_x509_crl(data)
    loaded = time.perf_counter()
    index = {r.serial_number: r for r in crl}
    built = time.perf_counter()
    del data  # the CRL object keeps the bytes it needs
    kept = status("VmRSS") - before

    start_lookups = time.perf_counter()
    hits = 0
    get = index.get
    for k in keys:
        if get(k) is not None:
            hits += 1
    lookup_secs = time.perf_counter() - start_lookups

    start_sig = time.perf_counter()
    ok = crl.is_signature_valid(ca.public_key())
    sig_secs = time.perf_counter() - start_sig

    print(f"version={cryptography.__version__}")
    print(f"python={sys.version.split()[0]}")
    print(f"entries={len(index)}")
    print(f"parse_secs={loaded - start}")
    print(f"index_secs={built - start}")
    print(f"retained_bytes={kept}")
    print(f"peak_rss={status('VmHWM')}")
    print(f"lookups={len(keys)}")
    print(f"lookup_secs={lookup_secs}")
    print(f"hits={hits}")
    print(f"signature_secs={sig_secs}")
    print(f"signature_ok={1 if ok else 0}")


if __name__ == "__main__":
    main()
