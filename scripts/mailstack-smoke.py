#!/usr/bin/env python3
"""Smoke test of the mail stack started by `scripts/mailstack up [DIR]`.

Usage: scripts/mailstack-smoke.py [DIR]   (default ${FRONTDESK_STACK_DIR:-/tmp/frontdesk-stack})

Only the Python standard library (smtplib, imaplib, ssl). Reads DIR/stack.env.
Prints one line per check and a closing 'N passed, N failed' line; exits
non-zero if any check failed. Every wait is a poll with a deadline.
"""

import email
import email.policy
import imaplib
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE = 20.0  # seconds to wait for a delivery


def load_env(stack_dir):
    env = {}
    path = os.path.join(stack_dir, "stack.env")
    if not os.path.exists(path):
        sys.exit("no running stack: %s is missing (run scripts/mailstack up %s)" % (path, stack_dir))
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


STACK_DIR = os.path.abspath(
    sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FRONTDESK_STACK_DIR", "/tmp/frontdesk-stack")
)
ENV = load_env(STACK_DIR)
HOST = "127.0.0.1"
SMTP_PORT = int(ENV["STACK_SMTP_PORT"])
SMTPS_PORT = int(ENV["STACK_SMTPS_PORT"])
IMAP_PORT = int(ENV["STACK_IMAP_PORT"])
IMAPS_PORT = int(ENV["STACK_IMAPS_PORT"])
CA_FILE = ENV["STACK_CA_FILE"]
PASSWORD = ENV["STACK_PASSWORD"]
MAILLOG = os.path.join(STACK_DIR, "postfix", "maillog")


def strict_context():
    """Verifies against the test CA only (not the system store)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=CA_FILE)
    return ctx


def make_msg(sender, to, subject, body="hello\n", headers=None):
    m = EmailMessage()
    m["From"] = sender or "mailer-daemon@customer.test"
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = "<%s@smoke.test>" % uuid.uuid4()
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    return m


def smtp_send(envelope_from, rcpts, msg, port=SMTP_PORT):
    with smtplib.SMTP(HOST, port, timeout=10) as s:
        s.ehlo("smoke.test")
        s.send_message(msg, from_addr=envelope_from, to_addrs=rcpts)


def imap_login(user, port=IMAP_PORT, tls=False, server_hostname=None):
    if tls:
        # imaplib verifies against the host it connects to; to check the
        # certificate for another name (localhost) wrap the socket ourselves.
        class _IMAP(imaplib.IMAP4_SSL):
            def _create_socket(self, timeout):
                sock = socket.create_connection((HOST, port), timeout)
                return self.ssl_context.wrap_socket(sock, server_hostname=server_hostname or HOST)

        im = _IMAP(HOST, port, ssl_context=strict_context(), timeout=10)
    else:
        im = imaplib.IMAP4(HOST, port, timeout=10)
    im.login(user, PASSWORD)
    return im


def find_message(user, header, value, mailbox="INBOX", deadline=DEADLINE):
    """Poll the user's mailbox until a message whose HEADER contains VALUE shows up."""
    end = time.monotonic() + deadline
    im = imap_login(user)
    try:
        while True:
            im.select(mailbox, readonly=True)
            typ, data = im.search(None, "HEADER", header, '"%s"' % value)
            ids = data[0].split() if typ == "OK" and data and data[0] else []
            if ids:
                typ, fetched = im.fetch(ids[-1], "(BODY.PEEK[])")
                raw = fetched[0][1]
                return email.message_from_bytes(raw, policy=email.policy.default)
            if time.monotonic() > end:
                raise AssertionError("no message with %s: %s in %s of %s within %.0fs" % (header, value, mailbox, user, deadline))
            time.sleep(0.2)
    finally:
        try:
            im.logout()
        except Exception:
            pass


def mailstack(*args):
    subprocess.run([os.path.join(HERE, "mailstack"), *args, STACK_DIR], check=True)


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def check_unauthenticated_delivery():
    subj = "smoke-1-%s" % uuid.uuid4().hex[:8]
    smtp_send("alice@customer.test", ["support@example.test"], make_msg("alice@customer.test", "support@example.test", subj))
    m = find_message("support@example.test", "Subject", subj)
    assert m["From"] == "alice@customer.test", m["From"]


def check_null_sender():
    subj = "smoke-2-%s" % uuid.uuid4().hex[:8]
    smtp_send("", ["alice@customer.test"], make_msg(None, "alice@customer.test", subj))
    m = find_message("alice@customer.test", "Subject", subj)
    assert m["Return-Path"] == "<>", m["Return-Path"]


def check_plus_address():
    subj = "smoke-3-%s" % uuid.uuid4().hex[:8]
    rcpt = "support+1042.abc@example.test"
    smtp_send("alice@customer.test", [rcpt], make_msg("alice@customer.test", rcpt, subj))
    m = find_message("support@example.test", "Subject", subj)
    delivered = m.get_all("Delivered-To") or []
    assert rcpt in [d.strip("<> ") for d in delivered], "Delivered-To: %r" % delivered


def check_imaps_verified():
    for name in ("localhost", "127.0.0.1"):
        im = imap_login("support@example.test", IMAPS_PORT, tls=True, server_hostname=name)
        im.select("INBOX")
        im.logout()
    # And the certificate must NOT verify without the test CA.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs()
    try:
        with socket.create_connection((HOST, IMAPS_PORT), 5) as sock:
            ctx.wrap_socket(sock, server_hostname="localhost")
        raise AssertionError("certificate verified without the test CA")
    except ssl.SSLCertVerificationError:
        pass


def _smtp_auth(s, mech):
    s.user, s.password = "support@example.test", PASSWORD
    if mech == "PLAIN":
        return s.auth("PLAIN", s.auth_plain)
    return s.auth("LOGIN", s.auth_login, initial_response_ok=False)


def check_smtp_auth():
    for mech in ("PLAIN", "LOGIN"):
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
            s.ehlo("smoke.test")
            assert s.has_extn("auth") and mech in s.esmtp_features["auth"].split(), s.esmtp_features
            code, _ = _smtp_auth(s, mech)
            assert code == 235, code
        with smtplib.SMTP_SSL(HOST, SMTPS_PORT, timeout=10, context=strict_context()) as s:
            s.ehlo("smoke.test")
            code, _ = _smtp_auth(s, mech)
            assert code == 235, code
    # STARTTLS on the plain port, verified against the CA.
    with smtplib.SMTP("localhost", SMTP_PORT, timeout=10) as s:
        s.ehlo("smoke.test")
        s.starttls(context=strict_context())
        s.ehlo("smoke.test")
        code, _ = _smtp_auth(s, "PLAIN")
        assert code == 235, code
    # Authenticated submission delivers too.
    subj = "smoke-5-%s" % uuid.uuid4().hex[:8]
    with smtplib.SMTP_SSL(HOST, SMTPS_PORT, timeout=10, context=strict_context()) as s:
        _smtp_auth(s, "PLAIN")
        s.send_message(make_msg("support@example.test", "bob@customer.test", subj),
                       from_addr="support@example.test", to_addrs=["bob@customer.test"])
    find_message("bob@customer.test", "Subject", subj)


def check_fast_auth_failure():
    timings = []
    for _ in range(3):
        t0 = time.monotonic()
        im = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
        try:
            im.login("support@example.test", "wrong-password")
            raise AssertionError("wrong IMAP password accepted")
        except imaplib.IMAP4.error:
            pass
        t1 = time.monotonic()
        im.login("support@example.test", PASSWORD)
        t2 = time.monotonic()
        im.logout()
        timings.append((t1 - t0, t2 - t1))
        # Unknown domains are rejected even with the right password.
        im = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
        try:
            im.login("someone@elsewhere.org", PASSWORD)
            raise AssertionError("user of a foreign domain logged in")
        except imaplib.IMAP4.error:
            pass
        im.logout()
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
            s.ehlo("smoke.test")
            s.user, s.password = "support@example.test", "wrong-password"
            t3 = time.monotonic()
            try:
                s.auth("PLAIN", s.auth_plain)
                raise AssertionError("wrong SMTP password accepted")
            except smtplib.SMTPAuthenticationError:
                pass
            t4 = time.monotonic()
            s.user, s.password = "support@example.test", PASSWORD
            code, _ = s.auth("PLAIN", s.auth_plain)
            t5 = time.monotonic()
            assert code == 235
        timings.append((t4 - t3, t5 - t4))
    worst = max(max(t) for t in timings)
    assert worst < 1.0, "slow auth: %r" % timings
    return "slowest auth round %.3fs" % worst


def check_vacation():
    # Vacation answers a sender once per period and :handle; a fresh handle
    # keeps this check repeatable on a stack that already answered.
    script = (
        'require ["vacation"];\n'
        'vacation :days 1 :handle "smoke-%s" :subject "Out of office" "I am away.";\n' % uuid.uuid4().hex
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sieve", delete=False) as f:
        f.write(script)
    try:
        mailstack("sieve", "vac1@customer.test", f.name)
    finally:
        os.unlink(f.name)
    token = uuid.uuid4().hex[:8]
    subj = "smoke-7-%s" % token
    msg = make_msg("support@example.test", "vac1@customer.test", subj)
    smtp_send("support@example.test", ["vac1@customer.test"], msg)
    find_message("vac1@customer.test", "Subject", subj)
    reply = find_message("support@example.test", "In-Reply-To", msg["Message-ID"])
    assert reply["Auto-Submitted"].startswith("auto-replied"), reply["Auto-Submitted"]
    assert reply["Subject"] == "Out of office", reply["Subject"]
    assert reply["Return-Path"] == "<>", reply["Return-Path"]


def check_no_relay():
    """Mail for a foreign domain must never leave: Postfix refuses it at RCPT
    TO (it resolves to the error transport). Were it ever accepted, it must be
    bounced by the error transport without the SMTP client (DNS, outside
    connections) ever running."""
    subj = "smoke-8-%s" % uuid.uuid4().hex[:8]
    msg = make_msg("support@example.test", "someone@elsewhere.org", subj)
    for port, login in ((SMTP_PORT, False), (SMTPS_PORT, True)):
        cls = smtplib.SMTP_SSL if port == SMTPS_PORT else smtplib.SMTP
        kwargs = {"context": strict_context()} if port == SMTPS_PORT else {}
        with cls(HOST, port, timeout=10, **kwargs) as s:
            s.ehlo("smoke.test")
            if login:
                _smtp_auth(s, "PLAIN")
            try:
                s.send_message(msg, from_addr="support@example.test", to_addrs=["someone@elsewhere.org"])
            except smtplib.SMTPRecipientsRefused as e:
                code, text = e.recipients["someone@elsewhere.org"]
                assert code == 550, (code, text)
                continue
        # Accepted: it has to end as a bounce by the error transport.
        end = time.monotonic() + DEADLINE
        while True:
            with open(MAILLOG, errors="replace") as f:
                lines = [l for l in f if "someone@elsewhere.org" in l and "status=" in l]
            if lines:
                break
            assert time.monotonic() < end, "no delivery status for someone@elsewhere.org in maillog"
            time.sleep(0.2)
        assert all("relay=none" in l and "status=bounced" in l for l in lines), lines
    with open(MAILLOG, errors="replace") as f:
        assert "postfix/smtp[" not in f.read(), "the Postfix SMTP client ran"
    return "550 at RCPT TO, unauthenticated and authenticated"


def check_imap_caps_and_idle():
    im = imap_login("support@example.test")
    try:
        typ, caps = im.capability()
        caps = caps[0].decode().split()
        assert "IDLE" in caps, caps
        im.select("INBOX")
        flags = im.untagged_responses.get("PERMANENTFLAGS") or [b""]
        assert b"\\*" in flags[0], flags
        # IDLE: a new delivery must be pushed as untagged EXISTS.
        tag = im._new_tag()
        im.send(tag + b" IDLE\r\n")
        line = im.readline()
        assert line.startswith(b"+"), line
        subj = "smoke-9-%s" % uuid.uuid4().hex[:8]
        smtp_send("alice@customer.test", ["support@example.test"], make_msg("alice@customer.test", "support@example.test", subj))
        im.sock.settimeout(DEADLINE)
        t0 = time.monotonic()
        while True:
            line = im.readline()
            if b"EXISTS" in line:
                break
            assert time.monotonic() - t0 < DEADLINE, "no EXISTS during IDLE"
        took = time.monotonic() - t0
        im.send(b"DONE\r\n")
        while not im.readline().startswith(tag):
            pass
    finally:
        im.logout()
    return "EXISTS pushed %.2fs after send" % took


def check_kick():
    im = imap_login("kicked@example.test")
    im.select("INBOX")
    mailstack("kick", "kicked@example.test")
    im.sock.settimeout(10)
    try:
        im.noop()
        line = im.readline()
        raise AssertionError("still connected after kick: %r" % line)
    except (imaplib.IMAP4.abort, OSError, EOFError):
        pass


def check_big_message():
    subj = "smoke-big-%s" % uuid.uuid4().hex[:8]
    m = make_msg("alice@customer.test", "support@example.test", subj)
    m.add_attachment(os.urandom(25 * 1024 * 1024), maintype="application", subtype="octet-stream", filename="big.bin")
    t0 = time.monotonic()
    smtp_send("alice@customer.test", ["support@example.test"], m)
    find_message("support@example.test", "Subject", subj, deadline=60)
    return "25 MB attachment delivered in %.1fs" % (time.monotonic() - t0)


CHECKS = [
    ("1 unauthenticated SMTP delivery", check_unauthenticated_delivery),
    ("2 null envelope sender", check_null_sender),
    ("3 plus address + Delivered-To", check_plus_address),
    ("4 IMAPS verified by test CA", check_imaps_verified),
    ("5 SMTP AUTH on 2525 and 2465", check_smtp_auth),
    ("6 fast auth failure", check_fast_auth_failure),
    ("7 Sieve vacation reply", check_vacation),
    ("8 no relaying outside", check_no_relay),
    ("9 IDLE + PERMANENTFLAGS \\*", check_imap_caps_and_idle),
    ("10 doveadm kick", check_kick),
    ("11 25 MB message", check_big_message),
]


def main():
    passed = failed = 0
    for name, fn in CHECKS:
        t0 = time.monotonic()
        try:
            note = fn()
            passed += 1
            print("ok   %-34s %.2fs %s" % (name, time.monotonic() - t0, note or ""), flush=True)
        except Exception as e:
            failed += 1
            print("FAIL %-34s %.2fs %s" % (name, time.monotonic() - t0, e), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
