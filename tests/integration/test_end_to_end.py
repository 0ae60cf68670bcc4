"""End to end: the sample city's four exports imported through vitalctl into a real
gateway, the beneficiary list matched, answers compared with expected_status.csv."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

EXPECTED = os.path.join(h.SAMPLE, "expected_status.csv")
BENEFICIARIES = os.path.join(h.SAMPLE, "beneficiaries.csv")


def counts(stdout):
    m = re.search(r"(\d+) records: (\d+) stored, (\d+) already held, (\d+) updated, "
                  r"(\d+) refused", stdout)
    return tuple(int(x) for x in m.groups()) if m else None


def main():
    t = h.Checks()
    wd = h.workdir("e2e")
    try:
        gw = h.Gateway(wd, name="forward").start()
        first = gw.import_all()
        for dept, r in first.items():
            c = counts(r.stdout_text)
            t.check(c is not None and c[1] > 0 and c[2] == 0 and c[0] == c[1] + c[4],
                    "first import of %s stores every accepted record" % dept, r.stdout_text)
            refusal_lines = [ln for ln in r.stderr_text.splitlines() if ln.strip()]
            t.check(c is not None and len(refusal_lines) == c[4] and
                    all(re.match(r".+\.csv:\d+: \S+: .+", ln) for ln in refusal_lines),
                    "%s refusals are printed as FILE:LINE: FIELD: reason" % dept,
                    r.stderr_text[:2000])
            t.check(r.returncode == (2 if c and c[4] else 0),
                    "%s import exit code says whether records were refused" % dept)
        t.check(counts(first["health"].stdout_text)[4] >= 4,
                "unidentified bodies among the death certificates are refused")
        t.check("unidentified" in first["health"].stderr_text,
                "an unidentified body is refused with that reason")

        out = gw.match(BENEFICIARIES)
        diffs = h.compare_with_expected(out, EXPECTED)
        t.check(not diffs, "match of the sample equals expected_status.csv", diffs[:20])

        again = gw.import_all()
        for dept, r in again.items():
            c = counts(r.stdout_text)
            c0 = counts(first[dept].stdout_text)
            t.check(c is not None and c[1] == 0 and c[3] == 0 and c[2] == c0[1],
                    "importing %s again gives only 'already held'" % dept, r.stdout_text)
        out2 = gw.match(BENEFICIARIES)
        t.check(out2 == out, "answers are unchanged after importing everything again")

        # kill -9 right after an acknowledged push: the record is there after restart.
        extra = os.path.join(wd, "late.csv")
        with open(extra, "w", encoding="utf-8") as f:
            f.write("公民身份号码,姓名,注销日期,注销原因,死亡日期,注销单位\n")
            f.write("11010519491231002X,王芳,20261120,死亡,20261101,11010501派出所\n")
        before = gw.vitalctl("welfare", "status", "11010519491231002X", "--as-of",
                             "2026-11-30", "--json", check=0).stdout_text
        t.check('"NO_RECORD"' in before, "a person nobody holds is NO_RECORD", before)
        r = gw.vitalctl("household", "import", "--department", "household", extra, check=0)
        t.check(counts(r.stdout_text)[1] == 1, "the late deregistration is acknowledged")
        gw.kill9()
        gw.start()
        after = gw.vitalctl("welfare", "status", "11010519491231002X", "--as-of",
                            "2026-11-30", "--json", check=0).stdout_text
        t.check('"REPORTED"' in after and "2026-11-01" in after,
                "after kill -9 and restart the acknowledged record is there", after)
        # A batch the gateway refuses whole (over the message size limit): what came before
        # is stored, and vitalctl names the first line that was not acknowledged.
        big = os.path.join(wd, "big.csv")
        W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        with open(big, "w", encoding="utf-8") as f:
            f.write("公民身份号码,姓名,注销日期,注销原因,死亡日期,注销单位\n")
            for i in range(1500):
                body = "120101198001%02d%03d" % (i % 28 + 1, i // 28 + 1)
                pid = body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]
                name = "张" * (5 << 20) if i == 1200 else "张三"
                f.write("%s,%s,20260101,其他,,12010101派出所\n" % (pid, name))
        r = gw.vitalctl("household", "import", "--department", "household", "--batch", "1000",
                        big)
        c = counts(r.stdout_text)
        t.check(r.returncode == 1 and c is not None and c[1] == 1000 and
                "records from line 1002 on were not acknowledged" in r.stderr_text,
                "a batch refused whole: the batches before it are stored and the first line "
                "not acknowledged is named", r.stdout_text + r.stderr_text[-600:])
        t.check(gw.stop() == 0, "SIGTERM stops the gateway with exit 0")

        rev = h.Gateway(wd, name="reverse").start()
        rev.import_all(order=list(reversed(h.DEPARTMENT_FILES)))
        out3 = rev.match(BENEFICIARIES)
        t.check(out3 == out, "importing the departments in reverse order gives the same answers",
                h.compare_with_expected(out3, EXPECTED)[:20])
        rev.stop()
    finally:
        h.cleanup(wd)
    t.done()


if __name__ == "__main__":
    main()
