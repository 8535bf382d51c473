import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from privacy import DEFAULT_POLICIES, RetentionError, RetentionStore, UnknownCategoryError, open_privacy
from tests.privacy.conftest import T0

S = dt.timedelta(seconds=1)
D = dt.timedelta(days=1)


def _years(t, n):
    return t.replace(year=t.year + n)


def _due_now(store, when) -> int:
    return store.purge(when, dry_run=True).purged


# (category, registration anchors, events applied after registering, expected due time)
CASES = [
    ("live_image", {"created": T0}, [("end", T0 + dt.timedelta(minutes=3))], T0 + dt.timedelta(minutes=3)),
    ("live_image", {"created": T0}, [], T0 + D),  # the transaction end never arrived
    ("live_image", {"created": T0, "held_by": "exc-1"}, [("resolve", T0 + 200 * D)], T0 + 230 * D),
    ("chip_image", {"created": T0}, [("end", T0 + dt.timedelta(seconds=40))], T0 + dt.timedelta(seconds=40)),
    ("chip_image", {"created": T0, "held_by": "exc-1"}, [("resolve", T0 + 2 * D)], T0 + 32 * D),
    ("template", {"created": T0}, [], _years(T0, 5)),
    ("template", {"created": T0}, [("exit", T0 + 100 * D)], _years(T0 + 100 * D, 3)),
    ("enrolment_record", {"created": T0}, [], _years(T0, 5)),
    ("enrolment_record", {"created": T0}, [("exit", T0 + 10 * D), ("exit", T0 + 400 * D)], _years(T0 + 400 * D, 3)),
    ("gate_transaction", {"created": T0, "ended": T0 + dt.timedelta(seconds=9)}, [],
     _years(T0 + dt.timedelta(seconds=9), 3)),
    ("exception", {"created": T0}, [("resolve", T0 + 5 * D)], T0 + 35 * D),
    ("watchlist_hit", {"created": T0}, [("resolve", T0 + D)], T0 + 31 * D),
    ("audit_entry", {"created": T0, "period_end": _years(T0, 3)}, [], _years(T0, 4)),
    ("audit_entry", {"created": T0}, [], _years(T0, 6)),
]


@pytest.mark.parametrize("category, anchors, events, due", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_default_policy_fires_at_the_right_moment(stack, category, anchors, events, due):
    r = stack.p.retention
    ref = r.register(category, anchors.get("held_by") or "rec-1", "subj_a", **anchors)
    for kind, when in events:
        if kind == "end":
            r.end("rec-1", when)
        elif kind == "resolve":
            r.resolve(anchors.get("held_by") or "rec-1", when)
        else:
            r.record_exit("subj_a", when)
    assert r.get(ref).due == due
    assert _due_now(r, due - S) == 0
    assert _due_now(r, due) == 1
    stack.clock.t = due - S
    assert r.purge().purged == 0 and r.get(ref) is not None
    stack.clock.t = due
    report = r.purge()
    assert report.purged == 1 and report.by_category == {category: 1} and r.get(ref) is None


def test_every_category_has_a_case_and_open_items_never_expire(stack):
    assert {c[0] for c in CASES} == set(DEFAULT_POLICIES) == {
        "live_image", "chip_image", "template", "enrolment_record", "gate_transaction", "exception",
        "watchlist_hit", "audit_entry"}
    r = stack.p.retention
    r.register("exception", "exc-9", "subj_a", created=T0)
    r.register("live_image", "exc-9", "subj_a", created=T0, held_by="exc-9")
    r.register("watchlist_hit", "hit-1", "subj_a", created=T0)
    assert _due_now(r, _years(T0, 50)) == 0


def test_hold_and_release(stack):
    r = stack.p.retention
    ref = r.register("live_image", "tx-1", "subj_a", created=T0, ended=T0)
    assert r.get(ref).due == T0
    r.hold(ref, "exc-1")
    assert r.get(ref).due is None
    r.release(ref)
    assert r.get(ref).due == T0


def test_purge_is_batched_idempotent_and_matches_the_dry_run(stack):
    r = stack.p.retention
    r.register_many([{"category": "gate_transaction", "record_id": f"tx-{i}", "subject_id": f"s{i % 7}",
                      "created": T0, "ended": T0} for i in range(1234)])
    r.register_many([{"category": "exception", "record_id": f"exc-{i}", "created": T0} for i in range(10)])
    when = _years(T0, 3)
    dry = r.purge(when, dry_run=True)
    assert dry.purged == 1234 and dry.by_category == {"gate_transaction": 1234}
    done = r.purge(when, batch=100)
    assert (done.purged, done.batches, done.ids_sha256) == (1234, 13, dry.ids_sha256)
    again = r.purge(when, batch=100)
    assert again.purged == 0 and again.by_category == {}
    rows = {row["category"]: row for row in (c.to_dict() for c in r.retention_report(when))}
    assert rows["gate_transaction"]["count"] == 0 and rows["exception"]["count"] == 10
    # each run, dry or real, is in the ledger with its counts and digest
    entries = [e for e in stack.p.ledger.entries() if e.action.startswith("retention_purge")]
    assert [e.action for e in entries] == ["retention_purge_dry_run", "retention_purge", "retention_purge"]
    assert dry.ids_sha256 in entries[1].details and '"purged":1234' in entries[1].details
    assert stack.p.ledger.verify().ok
    assert [run["dry_run"] for run in r.runs()] == [False, False, True]


def test_purge_resumes_after_a_simulated_crash(stack):
    r = stack.p.retention
    r.register_many([{"category": "live_image", "record_id": f"tx-{i}", "created": T0, "ended": T0}
                     for i in range(1000)])
    expected = r.purge(T0 + S, dry_run=True)
    calls = []

    def crash(n):
        calls.append(n)
        if len(calls) == 4:  # inside the 4th batch's transaction, after its deletes
            raise KeyboardInterrupt("power cut")

    r._after_batch = crash
    with pytest.raises(KeyboardInterrupt):
        r.purge(T0 + S, batch=150)
    r._after_batch = None
    assert sum(c.count for c in r.retention_report(T0)) == 1000 - 3 * 150  # 3 batches committed
    # items that fall due later are not swept into the resumed run: it keeps its cutoff
    r.register("live_image", "tx-late", created=T0 + 2 * S, ended=T0 + 2 * S)
    report = r.purge(T0 + 10 * S, batch=150)
    assert report.resumed and report.purged == 1000 and report.ids_sha256 == expected.ids_sha256
    assert report.by_category == {"live_image": 1000}
    follow = r.purge(T0 + 10 * S)
    assert not follow.resumed and follow.purged == 1
    assert [e.action for e in stack.p.ledger.entries()].count("retention_purge") == 2


def test_purge_survives_a_real_kill(tmp_path):
    script = textwrap.dedent(f"""
        import datetime as dt, os, signal, sys
        sys.path.insert(0, {str(__import__('pathlib').Path.cwd())!r})
        from privacy import RawKek, open_privacy
        T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        p = open_privacy({str(tmp_path / 'data.db')!r}, {str(tmp_path / 'keys.db')!r}, RawKek(bytes(32)),
                         clock=lambda: T0)
        if sys.argv[1] == "fill":
            p.retention.register_many([dict(category="gate_transaction", record_id=f"tx-{{i}}", created=T0,
                                            ended=T0 - dt.timedelta(days=4 * 365)) for i in range(5000)])
        else:
            n = []
            def die(k):
                n.append(k)
                if len(n) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
            p.retention._after_batch = die
            p.retention.purge(batch=700)
    """)
    path = tmp_path / "job.py"
    path.write_text(script)
    subprocess.run([sys.executable, str(path), "fill"], check=True, timeout=60)
    killed = subprocess.run([sys.executable, str(path), "purge"], timeout=60)
    assert killed.returncode == -9
    p = open_privacy(tmp_path / "data.db", tmp_path / "keys.db", __import__("privacy").RawKek(bytes(32)),
                     clock=lambda: T0)
    left = sum(c.count for c in p.retention.retention_report(T0))
    assert left == 5000 - 2 * 700
    report = p.retention.purge()
    assert report.resumed and report.purged == 5000 and report.batches == 2 + 8  # 3600 left, 500 a batch
    assert sum(c.count for c in p.retention.retention_report(T0)) == 0
    assert p.ledger.verify().ok


def test_report(stack):
    r = stack.p.retention
    r.register("exception", "exc-1", "subj_a", created=T0)
    r.register("exception", "exc-2", "subj_b", created=T0 + 10 * D)
    r.register("live_image", "tx-1", created=T0 + 10 * D, ended=T0 + 10 * D)
    r.resolve("exc-1", T0 + D)
    rows = {c.category: c for c in r.retention_report(T0 + 40 * D)}
    assert list(rows) == list(DEFAULT_POLICIES)
    exc = rows["exception"]
    assert (exc.count, exc.overdue, exc.oldest_age_days, exc.next_due) == (2, 1, 40.0, None)
    assert rows["live_image"].overdue == 1 and rows["template"].count == 0
    assert "30 days after resolved" in exc.policy
    assert rows["enrolment_record"].policy.startswith("3 years after last exit (else 5 years after created)")


def test_bad_input(stack):
    r = stack.p.retention
    with pytest.raises(UnknownCategoryError):
        r.register("selfie", "x")
    with pytest.raises(RetentionError):
        r.register("exception", "")
    r.register("exception", "e", ref="dup")
    with pytest.raises(RetentionError):
        r.register("exception", "e", ref="dup")
    with pytest.raises(RetentionError):
        r.purge(batch=0)


def test_leap_day_years(tmp_path, clock, kek):
    p = open_privacy(tmp_path / "d.db", tmp_path / "k.db", kek, clock=clock)
    leap = dt.datetime(2028, 2, 29, tzinfo=dt.UTC)
    ref = p.retention.register("template", "e", created=leap)
    assert p.retention.get(ref).due == dt.datetime(2033, 2, 28, tzinfo=dt.UTC)


def test_custom_policies(tmp_path, clock, kek):
    policies = {**DEFAULT_POLICIES, "exception_record": DEFAULT_POLICIES["exception"].renamed("exception_record")}
    r = RetentionStore(tmp_path / "d.db", policies=policies, clock=clock)
    ref = r.register("exception_record", "exc-1", created=T0, resolved=T0)
    assert r.get(ref).due == T0 + 30 * D


def test_two_purgers_at_once_count_each_item_once(tmp_path, kek):
    import threading

    paths = (tmp_path / "data.db", tmp_path / "keys.db")
    a = open_privacy(*paths, kek, clock=lambda: T0)
    a.retention.register_many([{"category": "live_image", "record_id": f"tx-{i}", "created": T0, "ended": T0}
                               for i in range(3000)])
    b = open_privacy(*paths, kek, clock=lambda: T0)
    reports = []

    def go(p):
        reports.append(p.retention.purge(batch=50))

    threads = [threading.Thread(target=go, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = {}
    for r in reports:
        assert runs.setdefault(r.run_id, (r.purged, r.ids_sha256)) == (r.purged, r.ids_sha256)
    assert sum(purged for purged, _ in runs.values()) == 3000
    logged = [e for e in a.ledger.entries() if e.action == "retention_purge"]
    assert sorted(e.record for e in logged) == sorted(runs) and a.ledger.verify().ok
