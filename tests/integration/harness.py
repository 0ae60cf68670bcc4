"""Test harness: a real vitalgate process on a free loopback port, with a PKI made by
certs/make-dev-pki, a store in a temporary folder, and vitalctl to talk to it.

Used by the integration tests (run by CTest with /usr/bin/python3) and by tools/demo.
"""
import atexit
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SOURCE_DIR = os.environ.get("VG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("VG_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
SAMPLE = os.path.join(SOURCE_DIR, "data", "sample")
DEPARTMENT_FILES = [
    ("cremation", "cremation.csv"),
    ("health", "death_certificates.csv"),
    ("household", "deregistrations.csv"),
    ("disability", "disability_certs.csv"),
]


def binary(name):
    return os.path.join(BINARY_DIR, name)


_pki_cache = {}
_running = []


def _stop_everything():
    for p in _running:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_stop_everything)


def make_pki(folder):
    """Makes a dev PKI in folder with the project's own script; returns folder."""
    subprocess.run([os.path.join(SOURCE_DIR, "certs", "make-dev-pki"), folder], check=True,
                   stdout=subprocess.DEVNULL)
    return folder


def shared_pki(workdir):
    """One PKI per test process (making keys is the slow part of starting a gateway)."""
    if "dir" not in _pki_cache:
        _pki_cache["dir"] = make_pki(os.path.join(workdir, "pki"))
    return _pki_cache["dir"]


def config_text(pki, data_dir, listen="127.0.0.1:0", extra="", principals=None, threads=2):
    if principals is None:
        principals = """
    { name = "cremation"; role = "department"; department = "cremation"; },
    { name = "health"; role = "department"; department = "health"; },
    { name = "household"; role = "department"; department = "household"; },
    { name = "disability"; role = "department"; department = "disability"; },
    { name = "welfare"; role = "consumer";
      purposes = ["welfare-stop-check", "disability-allowance-review"];
      fields = ["status", "names", "places"]; },
    { name = "auditor"; role = "auditor"; }"""
    return f"""
listen = "{listen}";
data_dir = "{data_dir}";
log_level = "info";
threads = %d;
shutdown_grace_ms = 5000;
tls = {{ ca = "{pki}/ca.crt"; cert = "{pki}/server.crt"; key = "{pki}/server.key"; }};
purposes = (
    {{ code = "welfare-stop-check"; description = "stop payments to the dead"; }},
    {{ code = "disability-allowance-review"; description = "review allowances"; }},
    {{ code = "research"; description = "allowed to nobody"; }}
);
principals = ({principals}
);
{extra}
""".replace("threads = %d;", "threads = %d;" % threads)


class Redis:
    """A redis-server of the test's own on a free loopback port, no persistence."""

    def __init__(self, workdir, name="redis", args=()):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.args = list(args)
        self.port = None
        self.proc = None

    def start(self, port=None, timeout=10):
        self.port = port or self.port or free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--enable-debug-command", "local",
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _running.append(self.proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.cli("PING").strip() in ("PONG", "NOAUTH Authentication required."):
                    return self
            except subprocess.CalledProcessError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %d" % self.proc.returncode)
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def cli(self, *args, password=None):
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if password:
            cmd += ["--no-auth-warning", "-a", password]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=30,
                           check=True)
        return r.stdout.decode("utf-8", "replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Gateway:
    """A vitalgate process. start() waits for 'listening on HOST:PORT'."""

    def __init__(self, workdir, pki=None, data_dir=None, config=None, name="gw", extra="",
                 redis=None, threads=2):
        self.workdir = workdir
        self.pki = pki or shared_pki(workdir)
        self.data_dir = data_dir or os.path.join(workdir, name + "-data")
        self.config = config or os.path.join(workdir, name + ".conf")
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None
        self.port = None
        # Each gateway keeps its own audit log, even when gateways share a store.
        if "audit" not in extra:
            extra += '\naudit = { dir = "%s"; checkpoint_interval_ms = 1000; };\n' % (
                os.path.join(workdir, name + "-audit"))
        self.audit_dir = os.path.join(workdir, name + "-audit")
        if redis:
            extra += '\nredis = { address = "%s"; command_timeout_ms = 200; };\n' % redis
        if not config:
            with open(self.config, "w") as f:
                f.write(config_text(self.pki, self.data_dir, extra=extra, threads=threads))

    def start(self, timeout=30, args=()):
        self.log = open(self.log_path, "ab")
        start_at = self.log.tell()
        self.proc = subprocess.Popen([binary("vitalgate"), "--config", self.config, *args],
                                     stdout=self.log, stderr=self.log)
        _running.append(self.proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(start_at)
                m = re.search(rb"listening on [^\s]*:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("vitalgate exited with %d:\n%s" % (self.proc.returncode,
                                                                      self.log_text()))
            time.sleep(0.02)
        raise RuntimeError("vitalgate did not start:\n" + self.log_text())

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def vitalctl(self, principal, *args, check=None, input=None):
        """Runs vitalctl as principal (a cert name of the PKI, or None for no cert)."""
        cmd = [binary("vitalctl"), "--target", self.target, "--ca",
               os.path.join(self.pki, "ca.crt")]
        if principal:
            cmd += ["--cert", os.path.join(self.pki, principal + ".crt"),
                    "--key", os.path.join(self.pki, principal + ".key")]
        cmd += list(args)
        r = subprocess.run(cmd, capture_output=True, input=input, timeout=300)
        r.stdout_text = r.stdout.decode("utf-8", "replace")
        r.stderr_text = r.stderr.decode("utf-8", "replace")
        if check is not None and r.returncode not in (check if isinstance(check, tuple)
                                                      else (check,)):
            raise AssertionError("vitalctl %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(args), r.returncode, r.stdout_text[-3000:], r.stderr_text[-3000:]))
        return r

    def import_all(self, order=DEPARTMENT_FILES, folder=SAMPLE):
        results = {}
        for dept, fname in order:
            results[dept] = self.vitalctl(dept, "import", "--department", dept,
                                          os.path.join(folder, fname), check=(0, 2))
        return results

    def match(self, path, as_of="2026-11-30", principal="welfare"):
        r = self.vitalctl(principal, "match", path, "--as-of", as_of, check=0)
        return r.stdout_text


def read_csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


def compare_with_expected(output, expected_path):
    """Returns a list of differences between vitalctl match output and an expected CSV."""
    with open(expected_path, encoding="utf-8") as f:
        want = list(csv.reader(f))
    got = read_csv_rows(output)
    diffs = []
    if len(got) != len(want):
        diffs.append("row count: got %d, want %d" % (len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            diffs.append("row %d: got %s, want %s" % (i + 1, g, w))
    return diffs


class Checks:
    """Counts checks and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   " + what)
        else:
            self.failed += 1
            print("FAIL " + what + ("\n     " + str(detail)[:4000] if detail else ""))
        sys.stdout.flush()
        return cond

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed or not self.passed else 0)


def workdir(name):
    d = tempfile.mkdtemp(prefix="vg-%s-" % name)
    return d


def cleanup(d):
    if os.environ.get("VG_KEEP_TMP"):
        print("kept " + d)
        return
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def issue_cert(pki, name, cn=None, sans=None):
    """Issues NAME.crt/NAME.key signed by the PKI's CA (CN and SAN DNS NAME unless cn and
    sans say otherwise, clientAuth)."""
    key, csr, crt = (os.path.join(pki, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(pki, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=clientAuth\n" % (
            ",".join("DNS:" + n for n in (sans or [name]))))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", key)
    run("openssl", "req", "-new", "-key", key, "-subj", "/CN=" + (cn or name), "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(pki, "ca.crt"), "-CAkey",
        os.path.join(pki, "ca.key"), "-CAcreateserial", "-days", "30", "-out", crt,
        "-extfile", ext)
    return crt


def make_crl(pki, revoked, out):
    """Writes a CRL signed by the PKI's CA revoking the certificates named in revoked."""
    ca_dir = os.path.join(pki, "crl-ca")
    shutil.rmtree(ca_dir, ignore_errors=True)
    os.makedirs(ca_dir)
    open(os.path.join(ca_dir, "index.txt"), "w").close()
    with open(os.path.join(ca_dir, "crlnumber"), "w") as f:
        f.write("%02X\n" % (int(time.time()) % 200 + 1))
    cnf = os.path.join(ca_dir, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\ncrlnumber=%s/crlnumber\n"
                "default_md=sha256\ndefault_crl_days=30\ncertificate=%s/ca.crt\n"
                "private_key=%s/ca.key\n" % (ca_dir, ca_dir, pki, pki))
    for name in revoked:
        subprocess.run(["openssl", "ca", "-config", cnf, "-revoke",
                        os.path.join(pki, name + ".crt")], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-config", cnf, "-gencrl", "-out", out + ".tmp"],
                   check=True, capture_output=True)
    os.replace(out + ".tmp", out)
    return out
