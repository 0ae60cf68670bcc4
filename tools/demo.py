"""The demo's steps after the build: see tools/demo."""
import collections
import csv
import io
import os
import re
import shutil
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("VG_SOURCE_DIR", ROOT)
os.environ.setdefault("VG_BINARY_DIR", os.path.join(ROOT, "build"))
import harness as h  # noqa: E402


def redis_configured(config):
    """True when the config file turns the Redis cache on itself."""
    with open(config, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"redis\s*=\s*\{(.*?)\};", text, re.S)
    return bool(m and re.search(r"^\s*enabled\s*=\s*true", m.group(1), re.M))


def main():
    data_dir = os.path.join(ROOT, "var", "demo")
    shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(data_dir)
    config = os.path.join(ROOT, "config", "vitalgate.conf")
    gw = h.Gateway(data_dir, pki=os.path.join(ROOT, "certs", "dev"), config=config,
                   name="gateway")
    gw.data_dir = os.path.join(data_dir, "store")
    # The demo's own store and a free port, so a running gateway is never disturbed; its own
    # redis-server too, unless the config names one.
    args = ["--listen", "127.0.0.1:0", "--data-dir", gw.data_dir]
    redis = None
    if not redis_configured(config):
        redis = h.Redis(data_dir).start()
        args += ["--redis", redis.address]
        print("redis-server started on %s" % redis.address)
    gw.start(args=args)
    print("gateway listening on %s (log: %s)" % (gw.target, gw.log_path))
    try:
        t0 = time.monotonic()
        refusals = {}
        for dept, fname in h.DEPARTMENT_FILES:
            r = gw.vitalctl(dept, "import", "--department", dept,
                            os.path.join(h.SAMPLE, fname), check=(0, 2))
            print(r.stdout_text.strip())
            m = re.search(r"(\d+) refused", r.stdout_text)
            refusals[dept] = int(m.group(1)) if m else 0
            with open(os.path.join(data_dir, "refusals-%s.txt" % dept), "w") as f:
                f.write(r.stderr_text)
        t_import = time.monotonic() - t0

        t0 = time.monotonic()
        out = gw.match(os.path.join(h.SAMPLE, "beneficiaries.csv"))
        t_match = time.monotonic() - t0
        with open(os.path.join(data_dir, "status.csv"), "w", encoding="utf-8") as f:
            f.write(out)
        # The same list once more: a payment run checked again is answered from the cache.
        t0 = time.monotonic()
        again = gw.match(os.path.join(h.SAMPLE, "beneficiaries.csv"))
        t_match2 = time.monotonic() - t0
    finally:
        rc = gw.stop()
        if redis:
            redis.stop()

    rows = list(csv.DictReader(io.StringIO(out)))
    by_status = collections.Counter(r["death_status"] for r in rows)
    by_cert = collections.Counter(r["certificate"] or "(none)" for r in rows)
    diffs = h.compare_with_expected(out, os.path.join(h.SAMPLE, "expected_status.csv"))

    print()
    print("summary (as of 2026-11-30, %d beneficiaries)" % len(rows))
    print("  rows per death_status: " + ", ".join(
        "%s %d" % (k, by_status[k]) for k in ("NO_RECORD", "REPORTED", "CONFIRMED", "INVALID_ID")))
    print("  certificates per state: " + ", ".join(
        "%s %d" % (k, by_cert[k]) for k in ("VALID", "EXPIRED", "CANCELLED", "(none)")))
    print("  refusals per department: " + ", ".join(
        "%s %d" % (d, n) for d, n in refusals.items()) +
        " (reasons in %s/refusals-*.txt)" % os.path.relpath(data_dir, ROOT))
    print("  import %.2f s, match %.2f s, match again %.2f s" % (t_import, t_match, t_match2))
    m = re.search(r"cache: (\d+) hits, (\d+) misses, (\d+) errors, (\d+) fills", gw.log_text())
    if m:
        hits, misses = int(m.group(1)), int(m.group(2))
        print("  cache: %d hits, %d misses (hit rate %.1f%%), %s errors, %s fills" % (
            hits, misses, 100.0 * hits / max(1, hits + misses), m.group(3), m.group(4)))
    if again != out:
        diffs.append("the second match differs from the first")
    if diffs:
        print("  answers differ from expected_status.csv in %d places:" % len(diffs))
        for d in diffs[:10]:
            print("    " + d)
    else:
        print("  answers equal expected_status.csv: yes (%d rows)" % len(rows))
    print("gateway stopped (exit %s)" % rc)
    sys.exit(0 if not diffs and rc == 0 else 1)


if __name__ == "__main__":
    main()
