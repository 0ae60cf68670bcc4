"""The API through Python grpcio: push and query, and every refusal: no certificate, a
certificate from another CA, the wrong department, the wrong role, malformed and oversized
requests, purposes, unknown methods, deadlines."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import grpc  # noqa: E402

import harness as h  # noqa: E402
import pyclient as pc  # noqa: E402

PUSH = "/vitalgate.v1.Ingest/Push"
GET = "/vitalgate.v1.Query/GetStatus"
MATCH = "/vitalgate.v1.Query/Match"
HEALTH = "/grpc.health.v1.Health/Check"

PERSON = "450203195602147314"  # a valid number no sample record holds
CAUSE = "C34.9"


def health_record(pb):
    fields = {
        "死亡证编号": "D45020320260099001", "姓名": "韦建国", "性别": "男", "民族": "壮族",
        "证件类型": "居民身份证", "证件号码": PERSON, "出生日期": "1956-02-14",
        "死亡日期": "2026-11-02", "死亡地点": "家中", "根本死因编码": CAUSE,
        "填报单位": "柳州市工人医院", "状态": "正常", "原证编号": "", "签发时间": "2026-11-03 09:30",
    }
    return pb.SourceRecord(fields=[pb.Field(name=k, value=v) for k, v in fields.items()])


def main():
    t = h.Checks()
    wd = h.workdir("api")
    try:
        pb, hpb = pc.load_messages(wd)
        gw = h.Gateway(wd).start()
        health = pc.channel(gw, "health")
        welfare = pc.channel(gw, "welfare")
        cremation = pc.channel(gw, "cremation")

        check = pc.unary(welfare, HEALTH, hpb.HealthCheckRequest, hpb.HealthCheckResponse)
        resp = check(hpb.HealthCheckRequest(), timeout=10)
        t.check(resp.status == hpb.HealthCheckResponse.SERVING, "health check says SERVING")

        push = pc.stream(health, PUSH, pb.PushRequest, pb.PushReply)
        bad = pb.SourceRecord(fields=[pb.Field(name="死亡证编号", value="X1")])
        replies = list(push(iter([pb.PushRequest(department="health", batch_id=7,
                                                 records=[health_record(pb), bad])]),
                            timeout=20))
        t.check(len(replies) == 1 and replies[0].stored == 1 and replies[0].batch_id == 7,
                "python client pushes a death certificate: stored", replies)
        t.check(len(replies[0].refused) == 1 and replies[0].refused[0].index == 1 and
                replies[0].refused[0].field != "",
                "a bad record in the same batch is refused by index and field, the rest kept",
                replies)

        get = pc.unary(welfare, GET, pb.StatusRequest, pb.PersonStatus)
        st = get(pb.StatusRequest(id_number=PERSON, name="韦建国", purpose="welfare-stop-check",
                                  as_of="2026-11-30"), timeout=10)
        t.check(st.death_status == pb.REPORTED and st.date_of_death == "2026-11-02" and
                list(st.death_sources) == ["health"] and st.name_check == pb.MATCH,
                "python client queries it: REPORTED by health with the date", st)
        t.check(len(st.evidence) == 1 and st.evidence[0].record_key.startswith(
            "D45020320260099001") and st.evidence[0].name == "韦建国",
                "the evidence names the certificate", st.evidence)
        raw = pc.unary(welfare, GET)(pb.StatusRequest(
            id_number=PERSON, purpose="welfare-stop-check").SerializeToString(), timeout=10)
        t.check(CAUSE.encode() not in raw and all(e.cause_of_death == "" for e in st.evidence),
                "cause of death never reaches a consumer without that field group")

        lower = get(pb.StatusRequest(id_number=" 450203195602147314　", purpose="welfare-stop-check"),
                    timeout=10)
        t.check(lower.death_status == pb.REPORTED and lower.id_number == PERSON,
                "the ID number is normalised before lookup")
        inval = get(pb.StatusRequest(id_number="450203195602147315", purpose="welfare-stop-check"),
                    timeout=10)
        t.check(inval.death_status == pb.INVALID_ID and "check" in inval.invalid_reason,
                "a wrong check character answers INVALID_ID with the reason", inval)

        # mutual TLS: no certificate, or one from another CA, never gets through.
        for who in (None, "stranger"):
            ch = pc.channel(gw, who)
            code = pc.code_of(lambda: pc.unary(ch, GET, pb.StatusRequest, pb.PersonStatus)(
                pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
            t.check(code == grpc.StatusCode.UNAVAILABLE,
                    "a client with %s is refused in the handshake" %
                    ("no certificate" if who is None else "stranger.crt"), code)
            ch.close()

        def push_as(ch, dept):
            return pc.code_of(lambda: pc.stream(ch, PUSH, pb.PushRequest, pb.PushReply)(
                iter([pb.PushRequest(department=dept, records=[health_record(pb)])]), timeout=10))

        t.check(push_as(cremation, "health") == grpc.StatusCode.PERMISSION_DENIED,
                "cremation pushing health records gets PERMISSION_DENIED")
        t.check(push_as(welfare, "health") == grpc.StatusCode.PERMISSION_DENIED,
                "a consumer pushing gets PERMISSION_DENIED")
        t.check(push_as(health, "births") == grpc.StatusCode.INVALID_ARGUMENT,
                "an unknown department gets INVALID_ARGUMENT")
        code = pc.code_of(lambda: pc.unary(cremation, GET, pb.StatusRequest, pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        t.check(code == grpc.StatusCode.PERMISSION_DENIED,
                "a department querying gets PERMISSION_DENIED", code)
        code = pc.code_of(lambda: pc.unary(pc.channel(gw, "auditor"), GET, pb.StatusRequest,
                                           pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        t.check(code == grpc.StatusCode.PERMISSION_DENIED,
                "an auditor querying gets PERMISSION_DENIED", code)

        def get_code(req_bytes):
            return pc.code_of(lambda: pc.unary(welfare, GET)(req_bytes, timeout=10))

        t.check(get_code(b"\xff\xff\xff\xff") == grpc.StatusCode.INVALID_ARGUMENT,
                "a malformed request gets INVALID_ARGUMENT")
        t.check(get_code(pb.StatusRequest(id_number=PERSON).SerializeToString()) ==
                grpc.StatusCode.INVALID_ARGUMENT, "a missing purpose gets INVALID_ARGUMENT")
        t.check(get_code(pb.StatusRequest(id_number=PERSON, purpose="curiosity")
                         .SerializeToString()) == grpc.StatusCode.INVALID_ARGUMENT,
                "an unknown purpose gets INVALID_ARGUMENT")
        t.check(get_code(pb.StatusRequest(id_number=PERSON, purpose="research")
                         .SerializeToString()) == grpc.StatusCode.PERMISSION_DENIED,
                "a purpose the consumer is not allowed gets PERMISSION_DENIED")
        t.check(get_code(pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check",
                                          as_of="2026-02-30").SerializeToString()) ==
                grpc.StatusCode.INVALID_ARGUMENT, "an impossible as_of gets INVALID_ARGUMENT")
        t.check(get_code(pb.StatusRequest(purpose="welfare-stop-check").SerializeToString()) ==
                grpc.StatusCode.INVALID_ARGUMENT, "an empty ID number gets INVALID_ARGUMENT")
        try:
            get(pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10)
        except grpc.RpcError as e:
            t.check(False, "unexpected error %s" % e)
        code = pc.code_of(lambda: pc.unary(welfare, "/vitalgate.v1.Query/Nope")(b"", timeout=10))
        t.check(code == grpc.StatusCode.UNIMPLEMENTED, "an unknown method gets UNIMPLEMENTED")
        big = pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check",
                               name="x" * (5 << 20))
        code = pc.code_of(lambda: get(big, timeout=20))
        t.check(code == grpc.StatusCode.RESOURCE_EXHAUSTED,
                "a message over the size limit gets RESOURCE_EXHAUSTED", code)

        # Match: answers in input order, one reply per request message.
        rows = [pb.MatchRow(id_number=PERSON, name="韦建国"), pb.MatchRow(id_number="bad"),
                pb.MatchRow(id_number="11010519491231002x")]
        match = pc.stream(welfare, MATCH, pb.MatchRequest, pb.MatchReply)
        reps = list(match(iter([pb.MatchRequest(purpose="welfare-stop-check",
                                                as_of="2026-11-30", rows=rows[:2]),
                                pb.MatchRequest(rows=rows[2:])]), timeout=20))
        got = [r.death_status for rep in reps for r in rep.results]
        t.check(len(reps) == 2 and got == [pb.REPORTED, pb.INVALID_ID, pb.NO_RECORD],
                "Match answers each message in order", got)
        code = pc.code_of(lambda: match(iter([pb.MatchRequest(rows=rows)]), timeout=10))
        t.check(code == grpc.StatusCode.INVALID_ARGUMENT,
                "a Match without a purpose gets INVALID_ARGUMENT", code)

        def slow_rows():
            yield pb.MatchRequest(purpose="welfare-stop-check", rows=rows)
            import time
            time.sleep(3)
            yield pb.MatchRequest(rows=rows)

        code = pc.code_of(lambda: match(slow_rows(), timeout=1))
        t.check(code == grpc.StatusCode.DEADLINE_EXCEEDED, "a deadline is honoured", code)
        get(pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10)
        t.check(True, "the gateway still serves after cancelled calls")

        # Text that is not UTF-8 is never stored or answered.
        req = pb.PushRequest(department="health", records=[health_record(pb)])
        raw_push = req.SerializeToString().replace("韦建国".encode(), b"\xce\xa4\xbd\xa8\xb9\xfaabc")
        reps = list(pc.stream(health, PUSH)(iter([raw_push]), timeout=10))
        rep = pb.PushReply.FromString(reps[0])
        t.check(rep.stored == 0 and len(rep.refused) == 1 and "UTF-8" in rep.refused[0].reason,
                "a pushed record with GB18030 bytes in a field is refused as not UTF-8", rep)
        bad_id = pb.StatusRequest(id_number="4502031956021473ZZ", purpose="welfare-stop-check")
        t.check(get_code(bad_id.SerializeToString().replace(b"ZZ", b"\xb2\xe2")) ==
                grpc.StatusCode.INVALID_ARGUMENT, "a query with non-UTF-8 text gets INVALID_ARGUMENT")
        many = [pb.MatchRow(id_number=PERSON)] * 5001
        code = pc.code_of(lambda: match(iter([pb.MatchRequest(purpose="welfare-stop-check",
                                                              rows=many)]), timeout=20))
        t.check(code == grpc.StatusCode.RESOURCE_EXHAUSTED,
                "a Match message over the row limit gets RESOURCE_EXHAUSTED", code)

        # A certificate naming two principals is ambiguous: refused, not the stronger role.
        h.issue_cert(gw.pki, "twofaced", cn="welfare", sans=["auditor"])
        code = pc.code_of(lambda: pc.unary(pc.channel(gw, "twofaced"), GET, pb.StatusRequest,
                                           pb.PersonStatus)(
            pb.StatusRequest(id_number=PERSON, purpose="welfare-stop-check"), timeout=10))
        t.check(code == grpc.StatusCode.PERMISSION_DENIED,
                "a certificate naming two principals gets PERMISSION_DENIED", code)
        code = pc.code_of(lambda: pc.unary(welfare, "/x\r\nINFO " + PERSON)(b"", timeout=10))
        t.check(code == grpc.StatusCode.UNIMPLEMENTED, "a made-up method path is UNIMPLEMENTED")

        log = gw.log_text()
        t.check(PERSON not in log and "韦建国" not in log and "\nINFO " + PERSON not in log,
                "the operators' log holds no ID number and no name, whatever the caller sends")
        t.check("peer=welfare" in log and "method=/vitalgate.v1.Query/GetStatus" in log,
                "log lines name the peer and the method")
        t.check(gw.stop() == 0, "the gateway stops cleanly with exit 0")
    finally:
        h.cleanup(wd)
    t.done()


if __name__ == "__main__":
    main()
