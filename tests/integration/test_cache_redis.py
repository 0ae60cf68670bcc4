"""The Redis cache against a real redis-server: never stale after an acknowledged push,
even with two gateways sharing one store and one Redis; correct when Redis is killed,
restarted, evicting, slow or refusing the password."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import grpc  # noqa: E402

import harness as h  # noqa: E402
import pyclient as pc  # noqa: E402

GET = "/vitalgate.v1.Query/GetStatus"
PUSH = "/vitalgate.v1.Ingest/Push"
EXPECTED = os.path.join(h.SAMPLE, "expected_status.csv")
BENEFICIARIES = os.path.join(h.SAMPLE, "beneficiaries.csv")
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(seq):
    """A valid ID number nobody in the sample holds (region 110105, born 1950)."""
    body = "11010519500101%03d" % (seq % 1000)
    body = body[:6] + "%08d" % (19500101 + seq // 1000) + body[14:]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


def redis_stat(redis, name):
    for line in redis.cli("INFO", "stats").splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":")[1])
    return 0


def main():
    t = h.Checks()
    wd = h.workdir("cache")
    try:
        pb, _ = pc.load_messages(wd)
        redis = h.Redis(wd).start()
        data = os.path.join(wd, "shared-store")
        a = h.Gateway(wd, name="a", data_dir=data, redis=redis.address).start()
        b = h.Gateway(wd, name="b", data_dir=data, redis=redis.address).start()
        plain = h.Gateway(wd, name="plain", data_dir=os.path.join(wd, "plain"))
        a.import_all()

        get_a = pc.unary(pc.channel(a, "welfare"), GET, pb.StatusRequest, pb.PersonStatus)
        push_b = pc.stream(pc.channel(b, "household"), PUSH, pb.PushRequest, pb.PushReply)

        def status(pid, **kw):
            return get_a(pb.StatusRequest(id_number=pid, purpose="welfare-stop-check",
                                          as_of="2026-11-30", **kw), timeout=10)

        def push_death(pid):
            rec = {"公民身份号码": pid, "姓名": "测试", "注销日期": "20261120", "注销原因": "死亡",
                   "死亡日期": "20261101", "注销单位": "11010501派出所"}
            req = pb.PushRequest(department="household", records=[pb.SourceRecord(
                fields=[pb.Field(name=k, value=v) for k, v in rec.items()])])
            replies = list(push_b(iter([req]), timeout=10))
            assert replies[0].stored == 1, replies

        # The simple case: cached as alive on A, death pushed through B, next query on A.
        p0 = id_number(1)
        before = [status(p0).death_status for _ in range(3)]
        hits0 = redis_stat(redis, "keyspace_hits")
        status(p0)
        t.check(before == [pb.NO_RECORD] * 3 and redis_stat(redis, "keyspace_hits") > hits0,
                "a person nobody holds is answered from the cache (a negative entry)")
        push_death(p0)
        t.check(status(p0).death_status == pb.REPORTED,
                "after a push through the other gateway, the very next query says REPORTED")

        # Racing: queries on A hammer people while B pushes their deaths; any query that
        # starts after the acknowledgement must see the death.
        stale, checked = [], [0]
        for round_no in range(60):
            pid = id_number(100 + round_no)
            status(pid)
            ack = [None]
            stop = threading.Event()

            def hammer():
                while not stop.is_set():
                    start = time.monotonic()
                    st = status(pid).death_status
                    if ack[0] is not None and start > ack[0]:
                        checked[0] += 1
                        if st != pb.REPORTED:
                            stale.append(pid)

            threads = [threading.Thread(target=hammer) for _ in range(3)]
            for th in threads:
                th.start()
            time.sleep(0.01)
            push_death(pid)
            ack[0] = time.monotonic()
            time.sleep(0.03)
            stop.set()
            for th in threads:
                th.join()
        t.check(not stale and checked[0] > 60,
                "no stale answer after acknowledgement in 60 racing rounds (%d queries checked)"
                % checked[0], stale[:5])

        # as-of date and caller's name act on a cached person as on an uncached one.
        plain.start()
        plain.import_all()
        get_plain = pc.unary(pc.channel(plain, "welfare"), GET, pb.StatusRequest,
                             pb.PersonStatus)
        import csv
        with open(BENEFICIARIES, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))[:60]
        same = True
        for r in rows:
            for as_of in ("2020-01-01", "2026-11-30", "2040-01-01"):
                for name in ("", r["姓名"], "某某"):
                    req = pb.StatusRequest(id_number=r["公民身份号码"], name=name,
                                           purpose="welfare-stop-check", as_of=as_of)
                    got = [get_a(req, timeout=10) for _ in range(2)]  # cold, then cached
                    want = get_plain(req, timeout=10)
                    if any(g.SerializeToString() != want.SerializeToString() for g in got):
                        same = False
        t.check(same, "as-of date and name change cached answers exactly as uncached ones")
        plain.stop()

        # Redis killed in the middle of a Match of the whole sample.
        out = []
        th = threading.Thread(target=lambda: out.append(a.match(BENEFICIARIES)))
        th.start()
        time.sleep(0.05)
        redis.stop()
        th.join()
        t.check(not h.compare_with_expected(out[0], EXPECTED),
                "Redis killed during a Match: every answer equals expected_status.csv")
        t.check(not h.compare_with_expected(a.match(BENEFICIARIES), EXPECTED),
                "with Redis down, a Match is answered from the store")
        r = a.vitalctl("household", "import", "--department", "household",
                       os.path.join(h.SAMPLE, "deregistrations.csv"), check=(0, 2))
        t.check(r.returncode in (0, 2), "pushes still succeed with Redis down")
        redis.start()
        time.sleep(6)  # longer than the longest reconnect backoff
        a.match(BENEFICIARIES)
        hits = redis_stat(redis, "keyspace_hits")
        t.check(not h.compare_with_expected(a.match(BENEFICIARIES), EXPECTED) and
                redis_stat(redis, "keyspace_hits") > hits + 1000,
                "Redis restarted: hits resume and answers are unchanged")
        log = a.log_text()
        warns = log.count("WARN") - log.count("WARN  peer=- method=- the audit")
        t.check(log.count("redis: unavailable") == 1 and log.count("reachable again") == 1,
                "one WARN for the outage and one INFO on recovery",
                [ln for ln in log.splitlines() if "redis" in ln][:10])
        del warns

        # Evicting: maxmemory 1mb with allkeys-lru.
        redis.cli("CONFIG", "SET", "maxmemory", "1mb")
        redis.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        for _ in range(2):
            t.check(not h.compare_with_expected(a.match(BENEFICIARIES), EXPECTED),
                    "maxmemory 1mb allkeys-lru: a full match is unchanged")
        t.check(redis_stat(redis, "evicted_keys") > 0, "Redis really evicted entries")
        redis.cli("CONFIG", "SET", "maxmemory", "0")

        # Slow: DEBUG SLEEP past the command timeout; calls finish within their deadline.
        sleeper = subprocess.Popen(["redis-cli", "-p", str(redis.port), "DEBUG", "SLEEP", "3"],
                                   stdout=subprocess.DEVNULL)
        time.sleep(0.1)
        t0 = time.monotonic()
        slow_ok = True
        try:
            for r in rows[:20]:
                got = get_a(pb.StatusRequest(id_number=r["公民身份号码"], name=r["姓名"],
                                             purpose="welfare-stop-check", as_of="2026-11-30"),
                            timeout=1.0)
                slow_ok = slow_ok and got.death_status != 0
        except grpc.RpcError as e:
            slow_ok = False
            print(e)
        t.check(slow_ok and time.monotonic() - t0 < 3.0,
                "Redis sleeping: 20 GetStatus calls answered within a 1 s deadline each")
        sleeper.wait()
        t.check(not h.compare_with_expected(a.match(BENEFICIARIES), EXPECTED),
                "after the sleep, answers are unchanged")
        a.stop()
        b.stop()
        t.check("cache:" in a.log_text() and "hits" in a.log_text(),
                "cache counters are logged at shutdown")

        # Refusing: the wrong password.
        locked = h.Redis(wd, name="locked", args=["--requirepass", "right"]).start()
        c = h.Gateway(wd, name="c", data_dir=data, extra='''
redis = { address = "%s"; password = "wrong"; command_timeout_ms = 200; };
''' % locked.address).start()
        t.check(not h.compare_with_expected(c.match(BENEFICIARIES), EXPECTED),
                "wrong Redis password: answers unchanged")
        t.check("redis: unavailable" in c.log_text(), "the refusal is logged as an outage")
        c.stop()
        locked.stop()
    finally:
        h.cleanup(wd)
    t.done()


if __name__ == "__main__":
    main()
