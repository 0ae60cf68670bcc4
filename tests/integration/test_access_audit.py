"""Who may see what, and the audit log: the principal x method matrix with an audit entry
per cell, purposes, field groups, verification and tampering, kill -9 during a Match,
an unwritable audit log, and a certificate revoked by a CRL reloaded with SIGHUP."""
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import grpc  # noqa: E402

import harness as h  # noqa: E402
import pyclient as pc  # noqa: E402

PUSH = "/vitalgate.v1.Ingest/Push"
GET = "/vitalgate.v1.Query/GetStatus"
MATCH = "/vitalgate.v1.Query/Match"
LIST = "/vitalgate.v1.Audit/List"
HEALTH = "/grpc.health.v1.Health/Check"
PERSON = "450203195602147314"
CAUSE = "C34.9"
NAME = "韦建国"
PLACE = "柳州市工人医院"

PRINCIPALS = """
    { name = "cremation"; role = "department"; department = "cremation"; },
    { name = "health"; role = "department"; department = "health"; },
    { name = "household"; role = "department"; department = "household"; },
    { name = "disability"; role = "department"; department = "disability"; },
    { name = "welfare"; role = "consumer"; purposes = ["welfare-stop-check"];
      fields = ["status", "names", "places"]; },
    { name = "clerk"; role = "consumer"; purposes = ["welfare-stop-check"]; fields = ["status"]; },
    { name = "coroner"; role = "consumer"; purposes = ["welfare-stop-check"];
      fields = ["status", "names", "places", "cause_of_death"]; },
    { name = "auditor"; role = "auditor"; }"""

RECORDS = {
    "cremation": {"火化证明编号": "HH4502032026990001", "逝者姓名": NAME, "性别": "男",
                  "公民身份号码": PERSON, "出生日期": "1956-02-14", "死亡日期": "2026-11-02",
                  "火化日期": "2026-11-04", "殡仪馆": "鱼峰区殡仪馆", "户籍地址": "某路1号"},
    "health": {"死亡证编号": "D45020320260099001", "姓名": NAME, "性别": "男", "民族": "壮族",
               "证件类型": "居民身份证", "证件号码": PERSON, "出生日期": "1956-02-14",
               "死亡日期": "2026-11-02", "死亡地点": "家中", "根本死因编码": CAUSE,
               "填报单位": PLACE, "状态": "正常", "原证编号": "", "签发时间": "2026-11-03 09:30"},
    "household": {"公民身份号码": PERSON, "姓名": NAME, "注销日期": "20261110", "注销原因": "死亡",
                  "死亡日期": "20261102", "注销单位": "45020301派出所"},
    "disability": {"残疾人证号": PERSON + "42", "姓名": NAME, "公民身份号码": PERSON,
                   "残疾类别": "4", "残疾等级": "2", "发证日期": "2020.01.01",
                   "有效期至": "2030.01.01", "证件状态": "有效"},
}


def main():
    t = h.Checks()
    wd = h.workdir("audit")
    try:
        pb, hpb = pc.load_messages(wd)
        pki = h.shared_pki(wd)
        for name in ("intruder", "clerk", "coroner", "temp"):
            h.issue_cert(pki, name)
        crl = h.make_crl(pki, [], os.path.join(wd, "ca.crl"))
        conf = os.path.join(wd, "gw.conf")
        data = os.path.join(wd, "data")
        audit_dir = os.path.join(wd, "audit")

        def write_conf(principals):
            with open(conf, "w") as f:
                f.write(h.config_text(pki, data, principals=principals).replace(
                    'key = "%s/server.key"; }' % pki,
                    'key = "%s/server.key"; crl = "%s"; }' % (pki, crl)) +
                    '\naudit = { dir = "%s"; checkpoint_interval_ms = 500; };\n' % audit_dir)

        write_conf(PRINCIPALS)
        gw = h.Gateway(wd, config=conf, name="gw")
        gw.start()
        ch = {n: pc.channel(gw, n) for n in ("cremation", "health", "household", "disability",
                                              "welfare", "clerk", "coroner", "auditor",
                                              "intruder")}

        def push_req(dept):
            return pb.PushRequest(department=dept, records=[pb.SourceRecord(
                fields=[pb.Field(name=k, value=v) for k, v in RECORDS[dept].items()])])

        cells = {
            "push-cremation": lambda c: list(pc.stream(c, PUSH, pb.PushRequest, pb.PushReply)(
                iter([push_req("cremation")]), timeout=10)),
            "push-health": lambda c: list(pc.stream(c, PUSH, pb.PushRequest, pb.PushReply)(
                iter([push_req("health")]), timeout=10)),
            "push-household": lambda c: list(pc.stream(c, PUSH, pb.PushRequest, pb.PushReply)(
                iter([push_req("household")]), timeout=10)),
            "push-disability": lambda c: list(pc.stream(c, PUSH, pb.PushRequest,
                                                        pb.PushReply)(
                iter([push_req("disability")]), timeout=10)),
            "get": lambda c: pc.unary(c, GET, pb.StatusRequest, pb.PersonStatus)(
                pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10),
            "match": lambda c: list(pc.stream(c, MATCH, pb.MatchRequest, pb.MatchReply)(
                iter([pb.MatchRequest(purpose="welfare-stop-check",
                                      rows=[pb.MatchRow(id_number=PERSON)])]), timeout=10)),
            "audit": lambda c: list(c.unary_stream(
                LIST, request_serializer=pb.AuditListRequest.SerializeToString,
                response_deserializer=pb.AuditListReply.FromString)(
                    pb.AuditListRequest(limit=1), timeout=10)),
            "health": lambda c: pc.unary(c, HEALTH, hpb.HealthCheckRequest,
                                         hpb.HealthCheckResponse)(hpb.HealthCheckRequest(),
                                                                  timeout=10),
        }
        method_of = {"push-cremation": PUSH, "push-health": PUSH, "push-household": PUSH,
                     "push-disability": PUSH, "get": GET, "match": MATCH, "audit": LIST,
                     "health": HEALTH}
        OK, DENIED = grpc.StatusCode.OK, grpc.StatusCode.PERMISSION_DENIED

        def expected(principal, cell):
            if principal == "intruder":
                return DENIED
            if cell == "health":
                return OK
            if cell.startswith("push-"):
                return OK if cell == "push-" + principal else DENIED
            if cell in ("get", "match"):
                return OK if principal in ("welfare", "clerk", "coroner") else DENIED
            return OK if principal == "auditor" else DENIED

        want_entries = collections.Counter()
        wrong = []
        for principal, c in ch.items():
            for cell, fn in cells.items():
                got = pc.code_of(lambda: fn(c))
                if got != expected(principal, cell):
                    wrong.append((principal, cell, got))
                want_entries[(principal, method_of[cell], got.name)] += 1
        t.check(not wrong, "every principal x method cell gets the expected code (%d cells)"
                % (len(ch) * len(cells)), wrong)

        # Field groups, on the bytes of each consumer's response.
        raw = {}
        for who in ("welfare", "clerk", "coroner"):
            raw[who] = pc.unary(ch[who], GET)(pb.StatusRequest(
                id_number=PERSON, purpose="welfare-stop-check").SerializeToString(), timeout=10)
        t.check(CAUSE.encode() not in raw["welfare"] and CAUSE.encode() not in raw["clerk"],
                "no consumer without the cause_of_death group receives the cause of death")
        t.check(CAUSE.encode() in raw["coroner"],
                "a consumer whose role names cause_of_death receives it")
        t.check(NAME.encode() not in raw["clerk"] and PLACE.encode() not in raw["clerk"] and
                "鱼峰区殡仪馆".encode() not in raw["clerk"],
                "a status-only consumer receives no names and no places")
        t.check(NAME.encode() in raw["welfare"] and PLACE.encode() in raw["welfare"],
                "a consumer with names and places receives them")
        for who in ("welfare", "clerk"):
            want_entries[(who, GET, "OK")] += 1
        want_entries[("coroner", GET, "OK")] += 1

        # Purposes: missing, unknown, not allowed - each refused and audited.
        for purpose, code in (("", "INVALID_ARGUMENT"), ("curiosity", "INVALID_ARGUMENT"),
                              ("research", "PERMISSION_DENIED")):
            got = pc.code_of(lambda: pc.unary(ch["welfare"], GET, pb.StatusRequest,
                                              pb.PersonStatus)(
                pb.StatusRequest(id_number=PERSON, purpose=purpose), timeout=10))
            t.check(got.name == code, "purpose %r gets %s" % (purpose, code), got)
            want_entries[("welfare", GET, code)] += 1

        # The audit holds an entry for every call made above.
        time.sleep(0.2)
        r = gw.vitalctl("auditor", "audit", "list", "--json", check=0)
        entries = [json.loads(ln) for ln in r.stdout_text.splitlines() if ln.strip()]
        calls = collections.Counter((e["principal"], e["method"], e["result"])
                                    for e in entries if e["kind"] == "call")
        missing = {k: n for k, n in want_entries.items() if calls[k] < n}
        t.check(not missing, "an audit call entry for every cell, refused ones included",
                missing)
        subj = [e for e in entries if e["kind"] == "subject"]
        t.check(any(e["subject"] == PERSON and e["principal"] == "welfare" and
                    e["purpose"] == "welfare-stop-check" and e["death_status"] == "CONFIRMED"
                    for e in subj), "a subject entry says who looked up whom, why, and the answer")
        r = gw.vitalctl("auditor", "audit", "list", "--subject", PERSON, check=0)
        t.check(r.stdout_text.startswith("seq,") and PERSON in r.stdout_text and
                "intruder" not in r.stdout_text.split("\n", 1)[1].replace(
                    "intruder", "") and len(r.stdout_text.splitlines()) > 3,
                "audit list --subject gives the person's access history as CSV", r.stdout_text[:500])
        r = gw.vitalctl("welfare", "audit", "list", check=1)
        t.check("PERMISSION_DENIED" in r.stderr_text, "a consumer may not list the audit")

        # Verification offline with only the server's certificate; tampering is found.
        gw.stop()
        log = os.path.join(audit_dir, "audit.log")
        key = os.path.join(pki, "server.crt")
        r = gw.vitalctl(None, "audit", "verify", audit_dir, "--key", key)
        t.check(r.returncode == 0, "an untouched audit log verifies", r.stdout_text + r.stderr_text)
        with open(log, "rb") as f:
            original = f.read()
        lines = original.split(b"\n")
        tampered = list(lines)
        tampered[5] = tampered[5].replace(b'"OK"', b'"NO"', 1) if b'"OK"' in tampered[5] else \
            tampered[5][:-3] + b"x" + tampered[5][-2:]
        with open(log, "wb") as f:
            f.write(b"\n".join(tampered))
        r = gw.vitalctl(None, "audit", "verify", audit_dir, "--key", key)
        t.check(r.returncode == 1 and "line 6" in (r.stdout_text + r.stderr_text),
                "a changed entry fails verification and is named", r.stdout_text + r.stderr_text)
        with open(log, "wb") as f:
            f.write(original)

        # kill -9 during a large Match: every row received is audited after restart.
        gw.start()
        welfare = pc.channel(gw, "welfare")
        match = pc.stream(welfare, MATCH, pb.MatchRequest, pb.MatchReply)
        import csv
        with open(os.path.join(h.SAMPLE, "beneficiaries.csv"), encoding="utf-8") as f:
            ids = [r["公民身份号码"] for r in csv.DictReader(f)]

        def big():
            first = True
            for _ in range(400):
                yield pb.MatchRequest(purpose="welfare-stop-check" if first else "",
                                      rows=[pb.MatchRow(id_number=i) for i in ids[:500]])
                first = False

        received = [0]

        def consume():
            try:
                for rep in match(big(), timeout=60):
                    received[0] += len(rep.results)
                    if received[0] >= 20000:
                        gw.proc.kill()
            except grpc.RpcError:
                pass

        th = threading.Thread(target=consume)
        th.start()
        th.join()
        gw.proc.wait()
        gw.log.close()
        gw.start()
        r = gw.vitalctl("auditor", "audit", "list", "--json", "--method", MATCH, check=0)
        audited = collections.Counter()
        for ln in r.stdout_text.splitlines():
            e = json.loads(ln)
            if e["kind"] == "subject":
                audited[e["call"]] += 1
        t.check(received[0] >= 20000 and audited and max(audited.values()) >= received[0],
                "kill -9 during a Match: all %d rows received were audited (%s)"
                % (received[0], dict(audited)))

        # An unwritable audit log: queries refuse, nothing is answered unaudited.
        size = os.path.getsize(log)
        subprocess.run(["prlimit", "--pid", str(gw.proc.pid), "--fsize=%d" % size], check=True)
        got = pc.code_of(lambda: pc.unary(welfare, GET, pb.StatusRequest, pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        t.check(got == grpc.StatusCode.UNAVAILABLE, "audit unwritable: GetStatus is UNAVAILABLE",
                got)
        rows = []

        def one_match():
            for rep in match(iter([pb.MatchRequest(purpose="welfare-stop-check",
                                                   rows=[pb.MatchRow(id_number=PERSON)])]),
                             timeout=10):
                rows.extend(rep.results)

        got = pc.code_of(one_match)
        t.check(got == grpc.StatusCode.UNAVAILABLE and not rows,
                "audit unwritable: Match is UNAVAILABLE and no row leaves", (got, len(rows)))
        gw.kill9()

        # Revocation: a CRL reloaded by SIGHUP refuses the next call of the revoked
        # certificate while another client's long Match goes on.
        gw.start()
        temp_principals = PRINCIPALS + """,
    { name = "temp"; role = "consumer"; purposes = ["welfare-stop-check"]; fields = ["status"]; }"""
        write_conf(temp_principals)
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        temp = pc.channel(gw, "temp")
        get_temp = pc.unary(temp, GET, pb.StatusRequest, pb.PersonStatus)
        ok_before = pc.code_of(lambda: get_temp(pb.StatusRequest(
            id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        t.check(ok_before == grpc.StatusCode.OK, "SIGHUP put a new principal in force",
                ok_before)
        long_rows = [0]

        def slow():
            first = True
            for _ in range(30):
                yield pb.MatchRequest(purpose="welfare-stop-check" if first else "",
                                      rows=[pb.MatchRow(id_number=i) for i in ids[:100]])
                first = False
                time.sleep(0.1)

        long_code = []

        def long_match():
            try:
                for rep in pc.stream(pc.channel(gw, "welfare"), MATCH, pb.MatchRequest,
                                     pb.MatchReply)(slow(), timeout=60):
                    long_rows[0] += len(rep.results)
                long_code.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                long_code.append(e.code())

        th = threading.Thread(target=long_match)
        th.start()
        time.sleep(0.5)
        h.make_crl(pki, ["temp"], crl)
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        after = pc.code_of(lambda: get_temp(pb.StatusRequest(
            id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        fresh = pc.code_of(lambda: pc.unary(pc.channel(gw, "temp"), GET, pb.StatusRequest,
                                            pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        th.join()
        t.check(after != grpc.StatusCode.OK and fresh != grpc.StatusCode.OK,
                "a revoked certificate is refused after SIGHUP (%s on its old connection, %s on "
                "a new one)" % (after.name, fresh.name))
        t.check(long_code == [grpc.StatusCode.OK] and long_rows[0] == 3000,
                "another client's long Match went on through the reload", (long_code, long_rows))
        with open(conf, "a") as f:
            f.write("\nthreads = 0;\n")
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        t.check("reload refused" in gw.log_text() and pc.code_of(lambda: pc.unary(
            ch["welfare"], GET, pb.StatusRequest, pb.PersonStatus)(pb.StatusRequest(
                id_number=PERSON, purpose="welfare-stop-check"), timeout=10)) in (
            grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE),
                "a reload that fails validation keeps the old settings and logs why")
        t.check(pc.code_of(lambda: pc.unary(pc.channel(gw, "welfare"), GET, pb.StatusRequest,
                                            pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10)) ==
            grpc.StatusCode.OK, "the gateway still serves after a refused reload")
        # A stream still open when the shutdown grace period ends is cut off, and audited
        # as such, not as OK.
        def held_open():
            yield pb.MatchRequest(purpose="welfare-stop-check", rows=[pb.MatchRow(id_number=PERSON)])
            time.sleep(15)

        held = threading.Thread(target=lambda: pc.code_of(lambda: pc.stream(
            pc.channel(gw, "clerk"), MATCH, pb.MatchRequest, pb.MatchReply)(held_open(),
                                                                         timeout=30)))
        held.start()
        time.sleep(0.5)
        t.check(gw.stop() == 0, "the gateway stops cleanly")
        with open(log, encoding="utf-8") as f:
            cut = [json.loads(ln) for ln in f if '"principal":"clerk"' in ln and
                   '"kind":"call"' in ln and MATCH in ln]
        t.check(cut and cut[-1]["result"] != "OK",
                "a stream cut off at shutdown is not audited as OK", cut[-1:])
        r = gw.vitalctl(None, "audit", "verify", audit_dir, "--key", key)
        t.check(r.returncode == 0, "after crashes and restarts the audit log still verifies",
                r.stdout_text + r.stderr_text)
    finally:
        h.cleanup(wd)
    t.done()


if __name__ == "__main__":
    main()
