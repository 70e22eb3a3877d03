#!/usr/bin/env python3
"""Seed a TuitionGuard service for `tools/bench api`, through its public HTTP API only.

Creates institutions (half escrow, half reserve at 20%), one token and one course (100 fen x 45 min)
each, guardians with one student each, and two pools of 60-lesson enrollments:
  - "lesson" enrollments, paid here, on which the load run records lessons (1 per request, <= 60 each);
  - "payment" enrollments, left unpaid, each paid once by the load run.
Both pools are shuffled and split round-robin between the wrk threads, so every thread touches every
institution but no two threads share an enrollment.

Writes a tab-separated file the Lua script reads (one record per line):
  T <taken_on>                                      the lesson date the load run sends
  L <thread> <enrollment id> <institution token> <lessons bought>
  P <thread> <enrollment id> <guardian token> <amount fen>
"""
import argparse
import datetime as dt
import http.client
import json
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor


class Api:
    """One keep-alive connection per worker thread."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.local = threading.local()
        self.calls = 0
        self.lock = threading.Lock()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return conn

    def call(self, method, path, body=None, token=None, key=None, expect=(200, 201)):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if key:
            headers["Idempotency-Key"] = key
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        with self.lock:
            self.calls += 1
        if resp.status not in expect:
            raise SystemExit(f"seed: {method} {path} -> {resp.status}: {raw[:500].decode(errors='replace')}")
        return json.loads(raw) if raw else None


def add_months(day, months):
    """The same day `months` later, clamped to the month's end (as BusinessDate.addingMonths does)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_month - dt.timedelta(days=1)).day))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--regulator-token", required=True)
    ap.add_argument("--threads", type=int, required=True, help="wrk threads to split the pools between")
    ap.add_argument("--lesson-enrollments", type=int, required=True)
    ap.add_argument("--payment-enrollments", type=int, required=True)
    ap.add_argument("--institutions", type=int, default=10)
    ap.add_argument("--guardians", type=int, default=200)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    api = Api(args.host, args.port)
    run = uuid.uuid4().hex[:8]
    rng = random.Random(20240901)
    pool = ThreadPoolExecutor(max_workers=args.workers)
    started = time.monotonic()

    # Business dates are Shanghai dates (UTC+8, no DST).
    today = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)).date()
    term_start = today - dt.timedelta(days=10)
    term_end = add_months(term_start, 2)
    taken_on = today - dt.timedelta(days=5)   # within the term, never in the future (even across midnight)

    # Institutions: the first half escrow, the second half reserve mode at 20%.
    def register(i):
        reserve = i >= args.institutions // 2
        # The fields the standard contract needs (address, credit code, licence validity, supervised account).
        body = {"licenceNumber": f"BENCH-{run}-{i:03d}", "name": f"Bench Academy {i}",
                "supervisionMode": "reserve" if reserve else "escrow", "address": "宁波市海曙区",
                "creditCode": f"52330203MJ0000{i % 10000:04d}", "licenceValidUntil": add_months(today, 24).isoformat()}
        if reserve:
            body["reserveRatioBasisPoints"] = 2000
        else:
            body.update({"supervisedBank": "宁波银行", "supervisedAccountNumber": f"8601 0000 {i:04d}"})
        inst = api.call("POST", "/v1/institutions", body, token=args.regulator_token)
        token = api.call("POST", f"/v1/institutions/{inst['id']}/tokens", token=args.regulator_token)["token"]
        course = api.call("POST", "/v1/courses", {"title": f"Maths {i}", "category": "academic",
                                                   "pricePerLessonFen": 100, "lessonMinutes": 45}, token=token)
        return {"id": inst["id"], "token": token, "course": course["id"]}

    institutions = list(pool.map(register, range(args.institutions)))

    def sign_up(g):
        signed_up = api.call("POST", "/v1/guardians", {"name": f"Bench Parent {g}"})
        token = signed_up["token"]
        student = api.call("POST", "/v1/students", {"name": f"Bench Child {g}"}, token=token)
        return {"token": token, "student": student["id"], "reference": signed_up["entityId"]}

    guardians = list(pool.map(sign_up, range(args.guardians)))

    total = args.lesson_enrollments + args.payment_enrollments
    plan = [(institutions[k % len(institutions)], rng.choice(guardians)) for k in range(total)]

    def enroll(pair):
        inst, guardian = pair
        # The institution proposes the order to the parent's reference; the parent accepts it for its child.
        proposal = api.call("POST", "/v1/enrollment-proposals",
                            {"guardianId": guardian["reference"], "courseId": inst["course"], "lessons": 60,
                             "termStart": term_start.isoformat(), "termEnd": term_end.isoformat()}, token=inst["token"])
        e = api.call("POST", f"/v1/enrollment-proposals/{proposal['id']}/acceptance",
                     {"studentId": guardian["student"]}, token=guardian["token"])
        # No payment without a contract signed by both parties: generate it, the institution signs, the guardian countersigns.
        contract = api.call("POST", f"/v1/enrollments/{e['id']}/contract", token=inst["token"])
        api.call("POST", f"/v1/contracts/{contract['id']}/institution-signature", token=inst["token"])
        api.call("POST", f"/v1/contracts/{contract['id']}/guardian-signature", token=guardian["token"])
        return {"id": e["id"], "amount": e["amountFen"], "lessons": 60,
                "inst_token": inst["token"], "guardian_token": guardian["token"]}

    enrollments = list(pool.map(enroll, plan))
    rng.shuffle(enrollments)
    lesson_pool = enrollments[:args.lesson_enrollments]
    payment_pool = enrollments[args.lesson_enrollments:]

    def prepay(e):
        api.call("POST", f"/v1/enrollments/{e['id']}/payments", {"amountFen": e["amount"]},
                 token=e["guardian_token"], key=f"seed-{e['id']}")

    list(pool.map(prepay, lesson_pool))
    pool.shutdown()

    with open(args.out, "w") as out:
        out.write(f"T\t{taken_on.isoformat()}\n")
        for n, e in enumerate(lesson_pool):
            out.write(f"L\t{n % args.threads + 1}\t{e['id']}\t{e['inst_token']}\t{e['lessons']}\n")
        for n, e in enumerate(payment_pool):
            out.write(f"P\t{n % args.threads + 1}\t{e['id']}\t{e['guardian_token']}\t{e['amount']}\n")

    elapsed = time.monotonic() - started
    print(f"seeded {len(institutions)} institutions, {len(guardians)} guardians, "
          f"{len(lesson_pool)} paid + {len(payment_pool)} unpaid enrollments "
          f"(term {term_start}..{term_end}, lessons taken on {taken_on}) "
          f"in {api.calls} HTTP calls, {elapsed:.1f} s ({api.calls / elapsed:.0f} calls/s)")


if __name__ == "__main__":
    sys.exit(main())
