#!/usr/bin/env python3
"""pipeline_model: a reference model of the processor's window semantics, written from
docs/pipelines.md and Flink's rules rather than from the engine's code, and a differential test
of pipeline-run against it over random inputs.

The model keeps every event of every window (no panes, no sketches, no heaps) and recomputes each
result from them, so it is slow and plainly right; the engine must give the same results:
tumbling and hopping windows (slides that do and do not divide the size, with and without an
offset, negative or positive), session windows and interval joins (inner and left outer);
out-of-orderness, allowed lateness, emit final and update, early firings; a source
filter, a filter step and a flatMap whose dropped events still move the watermark; watermark lines
(also ones behind the watermark, and `max` midway, at the end or not at all); one to three input
partitions, each key's events on one, their times skewed apart, and partitions named before
their first event or never sending one (the watermark the least over them); times around 2026
and around the epoch (windows before 1970); tenants; keys of any JSON value (a string as it is,
another value as its JSON text), events without a key or a subject; `having`; count, sum, min, max,
avg, stddev and var_pop (within 1e-9 of the exact value), distinct (exact below 129 values) and
percentile at q 0.5 (within its stated 1 % of the value of rank floor(q (n - 1)), and not beyond
the least and greatest values) and at q 0 and 1 (exactly the least and greatest), topk and
topk_distinct (exactly, each value an integer where it came as one), collect_list and collect_set
(exactly, in event-time order, ties by reading order), count_if, over values that are whole,
real (-0.0 too), or not numbers at all; and times taken from the events' data (source.time, as
milliseconds or RFC 3339, the events' own `time` absent or another), which a late event carries.

Rules the model follows (docs/pipelines.md, "Windows and event time"):
- each input partition keeps its windows and its own watermark (as a Kafka Streams task its stream
  time); an event is taken with its partition's watermark as it was before it (as a Flink source
  emits the element, then updates its watermark generator); then every partition's watermark
  becomes max(its watermark, least over the partitions of their newest event time -
  out_of_orderness), and never goes back; the partitions are those read and those named by a
  {"partition": N} line (one named that has sent nothing holds the watermark back: offline, no
  partition turns idle); a partition new to the input starts at the highest watermark line so
  far, which also raises every partition's watermark;
- tumbling and hopping windows start at offset + k * slide (offset 0 unless the window names one,
  negative or positive; the model normalizes nothing, so a negative offset checks the engine's);
- a window [s, e) fires (emit final) when the watermark reaches e - 1 and expires when it reaches
  e - 1 + allowed_lateness; an event with a window fired but not expired fires it again at once,
  with the next revision; an event none of whose windows is unexpired is late;
- early firings (`early` E, emit final): when the watermark moves, each window that changed
  since it last fired (its result went out or `having` held it back) fires with the next
  revision if the last point of the grid (1 ms before each o + k * E, o the windows' offset taken
  into [0, slide), 0 for sessions) at or before min(watermark, end - 2 ms) was passed by this move
  and lies in the window (at or after its start); then a window that closes fires its final
  result, also unchanged since its last early one;
- a session merges with every live session it overlaps or touches; the merged session is late if
  it has expired; its revision goes on from the highest of the merged ones; with `retract`, each
  merged session whose own window (start and end) a result went out for, and that the merge
  changes, is withdrawn first: a retraction naming that result's window, revision and id (the
  latest revision that went out for it) and the session it became; a session's result held back
  by `having` leaves the one before it standing, and a new window has had none;
- `having` false emits nothing and uses no revision;
- each result says when it went out (`timing`): `early` (an early firing, or an update of emit
  update while the watermark has not reached the window's end - 1), `on_time` (the final result,
  as the watermark reaches end - 1) or `late` (after that: a late firing, or an update);
- an event a flatMap makes has the id `<input id>#<place>` (late, or in a joined pair);
- an input event an expression fails on (a flatMap over no list, a missing key) is a dead letter,
  once, with the failing field and the reason, whatever happens to its other elements;
- max_keys (docs/pipelines.md, "Bounded state"): an event (each a flatMap made) that is not late,
  whose key (tenant and key) holds no state in its partition while max_keys keys do, or
  max_keys_per_tenant keys of its tenant, is a dead letter with the reason and changes nothing;
  so is an interval join's event that would be kept while its key keeps max_events_per_key
  events (it pairs with none); a key holds state while it has a window (a session,
  an event an interval join keeps) not expired; an interval join's event that would not be kept
  (its bound passed) is never one;
- deduplicate (docs/pipelines.md, "Duplicates"): an event (each a flatMap made) whose source and
  id (a flatMap's element's id) are those of an event a live window (session) of its key in its
  partition holds is dropped, whatever its own time: nothing comes of it; a repeat whose first
  event's windows have all expired is taken as any event (late if its own time is);
- a result's subject is its key; a window's result's time is the window's end, a joined pair's
  the later of its two events' times (an unmatched left event's, its own).

Usage: pipeline_model.py <pipeline-run> [cases] [seed]  (exit 1 naming the first case that
differs, with its definition and input saved under $TMPDIR)
"""
import concurrent.futures
import datetime
import json
import math
import os
import random
import subprocess
import sys
import statistics
import tempfile

from pipeline_cases import key_text, make_case

INF = float("inf")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def floor_div(a, b):
    return a // b  # Python floors toward minus infinity, as windows aligned to the epoch need


class Partitions:
    """the input partitions (see the rules above), each with its own model of the windows (or
    join) and its own watermark; events come from the partition the last {"partition": N} line
    named, 0 before any"""

    def __init__(self, d, make):
        self.ooo, self.make = d.get("ooo", 0), make
        self.cur, self.newest, self.forced, self.models = 0, {}, -INF, {}
        self.out = []

    def model(self, p):
        """partition p's model, new (at the watermark forced so far) when p is"""
        if p not in self.models:
            self.newest[p] = -INF
            self.models[p] = self.make(self.out)
            self.models[p].advance(self.forced)
        return self.models[p]

    def switch(self, p):
        self.cur = p
        self.model(p)

    def current(self):
        return self.model(self.cur)

    def read(self, t):
        """after an event at t of the current partition was taken: every partition's watermark
        rises to the least over the partitions of their newest event time - out_of_orderness"""
        self.newest[self.cur] = max(self.newest[self.cur], t)
        self.advance(min(self.newest.values()) - self.ooo)

    def watermark(self, to):
        """a watermark line: a floor for every partition, also those that come later"""
        self.forced = max(self.forced, to)
        self.advance(self.forced)

    def advance(self, to):
        for m in self.models.values():
            m.advance(to)


def refused(bounds, keys, tk, eid, out):
    """whether an event of key tk (tenant, key) finds no room: the key holds no state and
    max_keys keys do, or max_keys_per_tenant of its tenant's (a dead letter then); bounds:
    (max_keys, max_keys_per_tenant), 0 for none"""
    if tk in keys:
        return False
    if bounds[0] and len(keys) >= bounds[0]:
        member, n, whose = "max_keys", bounds[0], ""
    elif bounds[1] and sum(1 for k in keys if k[0] == tk[0]) >= bounds[1]:
        member, n, whose = "max_keys_per_tenant", bounds[1], " of its tenant"
    else:
        return False
    out.append(("dead_letter", eid, "%s: the state of its input partition holds %d key%s%s, "
                "the most it may, and none is this event's"
                % (member, n, "" if n == 1 else "s", whose)))
    return True


class Model:
    """tumbling, hopping and session windows of one input partition"""

    def __init__(self, d, out):
        self.d = d
        w = d["window"]
        self.kind = w["type"]
        self.ooo = d.get("ooo", 0)
        self.late_ms = d.get("lateness", 0)
        self.update = d.get("emit") == "update"
        self.having = d.get("having_n")  # results with n below it are not emitted
        self.early = d.get("early", 0)  # early firings: every `early` of event time
        self.keep_revs = self.late_ms > 0 or self.update or self.early > 0
        self.bounds = (d.get("max_keys", 0), d.get("max_keys_per_tenant", 0))
        self.dedup = d.get("dedup", False)
        self.wm = -INF
        self.seq = 0
        self.out = out  # ("result", dict) or ("late", id), of every partition
        if self.kind == "session":
            self.gap = w["gap"]
            self.retract = w.get("retract", False)
            # (tenant, key) -> list of dicts {start, end, evs, rev, pending, early, out}; out: a
            # result of exactly [start, end) went out (revision rev - 1)
            self.sess = {}
        else:
            self.size = w["size"]
            self.slide = w.get("slide", self.size)
            self.offset = w.get("offset", 0)  # windows start at offset + k * slide
            self.wins = {}  # (tenant, key, start) -> {evs, rev, fired, sent}

    # ---- results ----
    def result(self, tk, start, end, evs, rev, timing):
        """count counts every event; the other aggregates skip values that are not numbers (and
        distinct, events without a subject)"""
        vals = [e["v"] for e in evs if is_number(e["v"])]
        r = {"tenant": tk[0], "key": tk[1], "start": start, "end": end, "rev": rev,
             "timing": timing, "n": len(evs), "sum": sum(vals) if vals else None,
             "lo": min(vals) if vals else None, "hi": max(vals) if vals else None,
             "avg": sum(vals) / len(vals) if vals else None,
             "d": len(set(e["u"] for e in evs if e["u"] is not None))}
        sv = sorted(vals)
        r["p"] = sv[int(math.floor(0.5 * (len(sv) - 1)))] if sv else None
        r["p0"], r["p1"] = (sv[0], sv[-1]) if sv else (None, None)  # the extreme ranks
        # sample standard deviation and population variance (exact, then rounded once)
        r["sd"] = statistics.stdev(vals) if len(vals) > 1 else None
        r["vp"] = statistics.pvariance(vals) if vals else None
        # first and last: the value (any but null) at the earliest and the latest event time; of
        # values at one time, the one read first and the one read last
        some = [e for e in evs if e["v"] is not None]
        r["first"] = min(some, key=lambda e: (e["t"], e["seq"]))["v"] if some else None
        r["last"] = max(some, key=lambda e: (e["t"], e["seq"]))["v"] if some else None
        # topk: the greatest numbers, an integer before an equal real; topk_distinct: each value
        # once, the integer where there is one (sorted so, the first of equal values is it)
        ranked = sorted(vals, key=lambda x: (x, isinstance(x, int)), reverse=True)
        r["t3"] = ranked[:3]
        distinct = [x for i, x in enumerate(ranked) if i == 0 or x != ranked[i - 1]]
        r["td"] = distinct[:2]
        # collect_list: the values by time (ties by reading order), the first 4; collect_set:
        # each value once at its first occurrence (numbers equal as numbers: 5, 5.0 and -0.0, 0)
        ordered = [e["v"] for e in sorted(some, key=lambda e: (e["t"], e["seq"]))]
        r["cl"] = ordered[:4]
        r["ci"] = len(some)  # count_if(has(data.v)): the events with a value
        seen, r["cs"] = set(), []
        for v in ordered:
            k = ("n", float(v)) if is_number(v) else ("s", json.dumps(v, sort_keys=True))
            if k not in seen:
                seen.add(k)
                r["cs"].append(v)
        return r

    def emit(self, tk, start, end, evs, rev, timing):
        """emits a result unless `having` refuses it; returns whether it went out"""
        if self.having is not None and len(evs) < self.having:
            return False
        self.out.append(("result", self.result(tk, start, end, evs, rev, timing)))
        return True

    # ---- early firings ----
    def early_due(self, before, start, end):
        """whether a window [start, end) that changed since it last fired fires early as the
        watermark moves from `before`: the last point of the grid (1 ms before each o + k * early,
        o the windows' offset taken into [0, slide)) at or before min(watermark, end - 2), the
        last watermark at which it is open, lies after `before` and in the window"""
        if not self.early:
            return False
        o = self.offset % self.slide if self.kind != "session" else 0
        x = min(self.wm, end - 2)
        p = o + (x + 1 - o) // self.early * self.early - 1
        return p > before and p >= start

    # ---- input ----
    def keys(self):
        """(tenant, key) of every key holding state"""
        if self.kind == "session":
            return {tk for tk, live in self.sess.items() if live}
        return {k[:2] for k in self.wins}

    def event(self, ev, t, made):
        """an input event at t; made: (id, data) of each event it makes after the steps, each
        with a key (none if a filter dropped it)"""
        for eid, data in made:
            tk = (ev.get("tenant") or "", key_text(data["k"]))
            self.seq += 1  # the order events are read in: first and last break ties by it
            item = {"v": data.get("v"), "u": ev.get("subject"), "id": eid, "t": t,
                    "seq": self.seq, "did": (ev.get("source"), eid)}
            if self.dedup and self.holds(tk, item["did"]):
                self.out.append(("duplicate", eid))
                continue
            if self.kind == "session":
                self.add_session(tk, t, item)
            else:
                self.add_panes(tk, t, item)

    def holds(self, tk, did):
        """whether a live window (session) of key tk holds an event of source and id did"""
        if self.kind == "session":
            evs = (e for s in self.sess.get(tk, []) for e in s["evs"])
        else:
            evs = (e for k, w in self.wins.items() if k[:2] == tk for e in w["evs"])
        return any(e["did"] == did for e in evs)

    def add_panes(self, tk, t, item):
        starts = []
        s = floor_div(t - self.offset, self.slide) * self.slide + self.offset
        while s > t - self.size:
            starts.append(s)
            s -= self.slide
        live = [s for s in sorted(starts) if s + self.size - 1 + self.late_ms > self.wm]
        if not live:
            self.out.append(("late", item["id"]))
            return
        if refused(self.bounds, self.keys(), tk, item["id"], self.out):
            return
        for s in live:
            w = self.wins.setdefault(tk + (s,), {"evs": [], "rev": 0, "fired": False, "sent": 0})
            w["evs"].append(item)
            if self.update or s + self.size - 1 <= self.wm:
                self.fire(tk, s, w, "late" if s + self.size - 1 <= self.wm else "early")
                w["fired"] = True

    def emit_session(self, tk, s, timing):
        """a session's result with its next revision (if `having` lets it out)"""
        if self.emit(tk, s["start"], s["end"], s["evs"], s["rev"], timing):
            s["rev"] += 1
            s["out"] = True

    def fire(self, tk, s, w, timing):
        """a window's result with its next revision; `sent`: its events when it last fired
        (whether its result went out or `having` held it back)"""
        if self.emit(tk, s, s + self.size, w["evs"], w["rev"], timing) and self.keep_revs:
            w["rev"] += 1
        w["sent"] = len(w["evs"])

    def add_session(self, tk, t, item):
        start, end = t, t + self.gap
        live = self.sess.setdefault(tk, [])
        merged = [s for s in live if s["start"] <= end and start <= s["end"]]
        for s in merged:
            start, end = min(start, s["start"]), max(end, s["end"])
        if end - 1 + self.late_ms <= self.wm:
            self.out.append(("late", item["id"]))
            return
        if refused(self.bounds, self.keys(), tk, item["id"], self.out):
            return
        evs = [item] + [e for s in merged for e in s["evs"]]
        rev = max([0] + [s["rev"] for s in merged])
        new = {"start": start, "end": end, "evs": evs, "rev": rev, "pending": True,
               "early": False,  # early: fired early, its final result still due
               "out": any(s["out"] for s in merged if (s["start"], s["end"]) == (start, end))}
        for s in merged:
            if self.retract and s["out"] and (s["start"], s["end"]) != (start, end):
                self.out.append(("retraction", (tk[0], tk[1], s["start"], s["end"],
                                                s["rev"] - 1, start, end)))
        self.sess[tk] = [s for s in live if s not in merged] + [new]
        if self.update or end - 1 <= self.wm:
            self.emit_session(tk, new, "late" if end - 1 <= self.wm else "early")
            new["pending"] = False

    def advance(self, to):
        if to <= self.wm:
            return
        before, self.wm = self.wm, to
        if self.kind == "session":
            for tk, live in self.sess.items():
                for s in sorted(live, key=lambda s: s["start"]):
                    if self.update:
                        continue
                    if s["pending"] and self.early_due(before, s["start"], s["end"]):
                        self.emit_session(tk, s, "early")
                        s["pending"], s["early"] = False, True  # its final result still due
                    if s["end"] - 1 <= self.wm and (s["pending"] or s["early"]):
                        self.emit_session(tk, s, "on_time")
                        s["pending"], s["early"] = False, False
                self.sess[tk] = [s for s in live if s["end"] - 1 + self.late_ms > self.wm]
            return
        for k in sorted(self.wins):
            w = self.wins[k]
            end = k[2] + self.size
            if w["fired"] or self.update:
                continue
            if len(w["evs"]) != w["sent"] and self.early_due(before, k[2], end):
                self.fire(k[:2], k[2], w, "early")  # (before its final, when it closes now)
            if end - 1 <= self.wm:
                self.fire(k[:2], k[2], w, "on_time")
                w["fired"] = True
        self.wins = {k: w for k, w in self.wins.items()
                     if k[2] + self.size - 1 + self.late_ms > self.wm}


class JoinModel:
    """an interval join: a left event at tl and a right one at tr of the same tenant and key pair
    when tr - tl lies in [lower, upper], once, when the second arrives; an event with
    time + allowed_lateness below the watermark is late; a left event is kept while
    tl + upper + allowed_lateness is not below the watermark, a right one while
    tr - lower + allowed_lateness is not; a left outer join emits a left event that met no right
    one when it is dropped (no right event that is not late can pair with it any more, as Kafka
    Streams emits a left join's unmatched records when the window's grace period has passed)"""

    def __init__(self, d, out):
        j = d["join"]
        self.lower, self.upper, self.outer = j["lower"], j["upper"], j["outer"]
        self.late_ms = d.get("lateness", 0)
        self.bounds = (d.get("max_keys", 0), d.get("max_keys_per_tenant", 0))
        self.max_events = j.get("max_events", 0)
        self.wm = -INF
        self.kept = {"l": [], "r": []}  # dicts {tk, t, id, matched}
        self.out = out

    def event(self, ev, t, side, ids):
        """an input event at t of a side (None: of neither), once per id given (the events a
        flatMap made of it)"""
        for eid in ids if side else []:
            if t + self.late_ms < self.wm:
                self.out.append(("late", eid))
            else:
                tk = (ev.get("tenant") or "", ev["data"]["k"])
                reach = self.upper if side == "l" else -self.lower
                kept = self.kept["l"] + self.kept["r"]
                keys = {e["tk"] for e in kept}
                if t + reach + self.late_ms >= self.wm:  # it would be kept
                    n = sum(1 for e in kept if e["tk"] == tk)
                    if self.max_events and n >= self.max_events:  # its key has no room
                        self.out.append(("dead_letter", eid,
                                         "interval_join.max_events_per_key: its key holds %d "
                                         "event%s, the most it may"
                                         % (self.max_events, "" if self.max_events == 1 else "s")))
                        continue
                    if refused(self.bounds, keys, tk, eid, self.out):
                        continue  # (there is no room for its key)
                me = {"tk": tk, "t": t, "id": eid, "matched": False}
                other = self.kept["r" if side == "l" else "l"]
                for o in other:
                    left, right = (me, o) if side == "l" else (o, me)
                    if o["tk"] == tk and self.lower <= right["t"] - left["t"] <= self.upper:
                        self.out.append(("pair", (tk, left["id"], right["id"],
                                                  max(left["t"], right["t"]))))
                        left["matched"] = True
                self.kept[side].append(me)

    def advance(self, to):
        """the watermark moves to `to` if that is ahead; then every kept event is looked at, also
        one taken at a watermark already past its bound (it is due at once)"""
        self.wm = max(self.wm, to)
        keep = []
        for e in self.kept["l"]:
            if e["t"] + self.upper + self.late_ms < self.wm:
                if self.outer and not e["matched"]:
                    self.out.append(("pair", (e["tk"], e["id"], None, e["t"])))
            else:
                keep.append(e)
        self.kept["l"] = keep
        self.kept["r"] = [e for e in self.kept["r"]
                          if e["t"] - self.lower + self.late_ms >= self.wm]


def run_model(d, lines):
    if "join" in d:
        parts = Partitions(d, lambda out: JoinModel(d, out))
        for ln in lines:
            if "partition" in ln:
                parts.switch(ln["partition"])
            elif "watermark" in ln:
                parts.watermark(INF if ln["watermark"] == "max" else parse_ms(ln["watermark"]))
            else:
                side = {"l": "l", "r": "r"}.get(ln["type"])
                ids = [ln["id"]]
                if d["flat"]:  # one event per element, with the element's own id
                    items = ln["data"]["items"]
                    ids = ["%s#%d" % (ln["id"], k) for k in range(len(items))]
                parts.current().event(ln, parse_ms(ln["time"]), side, ids)
                parts.read(parse_ms(ln["time"]))
        return parts.out
    parts = Partitions(d, lambda out: Model(d, out))
    for ln in lines:
        if "partition" in ln:
            parts.switch(ln["partition"])
            continue
        if "watermark" in ln:
            parts.watermark(INF if ln["watermark"] == "max" else parse_ms(ln["watermark"]))
            continue
        t = event_ms(d, ln)
        dead = None
        made = [] if d["filter"] and ln["type"] == "skip" else [(ln["id"], ln["data"])]
        if d["steps"] == "filter":
            made = [(i, x) for i, x in made if not x["drop"]]
        elif d["steps"] == "flatMap":  # an element's id: the input's, `#`, its place
            if made and not isinstance(made[0][1]["items"], list):
                dead = "steps[0].flatMap: not a list"
            made = [("%s#%d" % (i, k), el) for i, x in made if isinstance(x["items"], list)
                    for k, el in enumerate(x["items"])]
        if not dead and any("k" not in x for _, x in made):
            dead = "key: no such key: k"
        if dead:  # an input event an expression fails on: a dead letter, once, with the reason
            parts.out.append(("dead_letter", ln["id"], dead))
        parts.current().event(ln, t, [(i, x) for i, x in made if "k" in x])
        parts.read(t)
    return parts.out


def event_ms(d, ln):
    """an event's time: its `time`, or with source.time what data.at gives (ms, or RFC 3339)"""
    if d.get("at"):
        at = ln["data"]["at"]
        return at if isinstance(at, int) else parse_ms(at)
    return parse_ms(ln["time"])


def parse_ms(text):
    """milliseconds since the epoch of an RFC 3339 time with milliseconds"""
    dt = datetime.datetime.strptime(text[:23], "%Y-%m-%dT%H:%M:%S.%f")
    delta = dt - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def engine_out(binary, doc, lines, tmp):
    dpath = os.path.join(tmp, "def.json")
    ipath = os.path.join(tmp, "in.ndjson")
    with open(dpath, "w") as f:
        json.dump(doc, f)
    with open(ipath, "w") as f:
        for ln in lines:
            f.write(json.dumps(ln) + "\n")
    with open(ipath) as f:
        p = subprocess.run([binary, dpath], stdin=f, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("pipeline-run exited %d: %s"
                           % (p.returncode, "\n".join(p.stderr.strip().splitlines()[:30])))
    out, ids, results = [], {}, {}
    for line in p.stdout.splitlines():
        o = json.loads(line)
        rec = o.get("late", o)
        if "id" in rec:  # consumers deduplicate by source and id: one content each (late too)
            content = json.dumps(rec, sort_keys=True)
            sid = (rec.get("source"), rec["id"])
            if ids.setdefault(sid, content) != content:
                raise RuntimeError("id %s of %s given to two different outputs: %s and %s"
                                   % (sid[1], sid[0], ids[sid], content))
        if "late" in o:
            at = o["late"]["data"].get("at") if "time" in doc.get("source", {}) else None
            if at is not None and parse_ms(o["late"]["time"]) != event_ms({"at": 1}, o["late"]):
                raise RuntimeError("late event %s has the time %s, not its data.at %s"
                                   % (o["late"]["id"], o["late"]["time"], at))
            out.append(("late", o["late"]["id"]))
            continue
        if "dead_letter" in o:
            out.append(("dead_letter", o["dead_letter"]["id"], o["error"]))
            continue
        dd = o["data"]
        if o.get("subject") != dd["key"]:  # a result's subject is its key
            raise RuntimeError("subject %r of a result of key %r" % (o.get("subject"), dd["key"]))
        if o["type"] == "pipeline.joined":  # its time: the later of the two events'
            out.append(("pair", ((o.get("tenant", ""), dd["key"]), dd["ids"]["a"],
                                 dd["ids"]["b"], parse_ms(o["time"]))))
            continue
        if o["time"] != dd["window_end"]:  # a window's result: its time is the window's end
            raise RuntimeError("time %s of a result of a window ending %s"
                               % (o["time"], dd["window_end"]))
        window = (o.get("tenant", ""), dd["key"], parse_ms(dd["window_start"]),
                  parse_ms(dd["window_end"]), dd["revision"])
        if o["type"] == "pipeline.retraction":  # of a result that went out before it
            if results.get(dd["result_id"]) != window:
                raise RuntimeError("retraction %s of result %s, which is %s"
                                   % (window, dd["result_id"], results.get(dd["result_id"])))
            by = dd["replaced_by"]
            out.append(("retraction", window + (parse_ms(by["window_start"]),
                                                parse_ms(by["window_end"]))))
            continue
        results[o["id"]] = window
        out.append(("result", {
            "tenant": o.get("tenant", ""), "key": dd["key"],
            "start": parse_ms(dd["window_start"]), "end": parse_ms(dd["window_end"]),
            "rev": dd["revision"], "timing": o.get("timing"), "n": dd["n"], "sum": dd["sum"],
            "lo": dd["lo"], "hi": dd["hi"], "avg": dd["avg"], "d": dd["d"], "p": dd["p"],
            "p0": dd["p0"], "p1": dd["p1"], "sd": dd["sd"], "vp": dd["vp"], "first": dd["first"],
            "last": dd["last"], "t3": dd["t3"], "td": dd["td"], "cl": dd["cl"],
            "cs": dd["cs"], "ci": dd["ci"]}))
    return out


def near(x, y, rel, least=1.0):
    """equal, or both numbers within rel of each other (of x, or of `least` if x is smaller:
    sums of reals add up in another order when panes merge)"""
    if x is None or y is None or not is_number(x) or not is_number(y):
        return x == y
    return abs(x - y) <= rel * max(least, abs(x)) + 1e-12


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] in ("late", "pair", "dead_letter", "retraction"):
        return a[1:] == b[1:]
    x, y = a[1], b[1]
    for f in ("tenant", "key", "start", "end", "rev", "timing", "n", "lo", "hi", "d", "first",
              "last", "ci"):
        if x[f] != y[f]:
            return False
    if isinstance(x["sum"], int) != isinstance(y["sum"], int):
        return False  # a sum of whole numbers is written as an integer
    for f in ("t3", "td", "cl", "cs"):  # the same values, each an integer where it came as one
        if [(v, isinstance(v, int)) for v in x[f]] != [(v, isinstance(v, int)) for v in y[f]]:
            return False
    # percentile: within DDSketch's 1 % of the true value of that rank (4 significant digits), no
    # further out than the extremes, which quantiles 0 and 1 give exactly
    if x["p0"] != y["p0"] or x["p1"] != y["p1"]:
        return False
    if x["p"] is not None and not all(x["p0"] <= p <= x["p1"] for p in (x["p"], y["p"])):
        return False
    return near(x["sum"], y["sum"], 1e-9) and near(x["avg"], y["avg"], 1e-9) and \
        near(x["sd"], y["sd"], 1e-9) and near(x["vp"], y["vp"], 1e-9) and \
        near(x["p"], y["p"], 0.011, 0.0)


def order_key(o):
    if o[0] in ("late", "dead_letter"):
        return (o[0],) + tuple(str(x) for x in o[1:])
    if o[0] in ("pair", "retraction"):
        return (o[0],) + tuple(str(x) for x in o[1])
    r = o[1]
    return ("result", r["tenant"], r["key"], r["start"], r["rev"])


def compare(want, got):
    """same multiset (ids make each result distinct), and each window's revisions in order (a
    window is its start and end: a session that expired can be followed by another with the same
    start, made of later events merged into a live session)"""
    ws, gs = sorted(want, key=order_key), sorted(got, key=order_key)
    if len(ws) != len(gs):
        return "%d outputs expected, %d given" % (len(ws), len(gs))
    for a, b in zip(ws, gs):
        if not same(a, b):
            return "expected %s, given %s" % (a, b)
    last = {}
    for o in got:
        if o[0] == "result":
            r = o[1]
            k = (r["tenant"], r["key"], r["start"], r["end"])
            if k in last and r["rev"] <= last[k]:
                return "revisions out of order for %s" % (k,)
            last[k] = r["rev"]
    return None


def check_case(binary, seed, c, tmp):
    """Runs case c in its own directory under tmp: (why it differs or None, the engine's output)."""
    rng = random.Random(seed * 100003 + c)
    d, doc, lines = make_case(rng)
    want = run_model(d, lines)
    dups = sum(1 for o in want if o[0] == "duplicate")  # (dropped: nothing comes out of them)
    want = [o for o in want if o[0] != "duplicate"]
    where = os.path.join(tmp, str(c))
    os.mkdir(where)
    try:
        got = engine_out(binary, doc, lines, where)
        why = compare(want, got)
    except RuntimeError as err:
        got, why = [], str(err)
    if not why:
        for f in os.listdir(where):
            os.unlink(os.path.join(where, f))
        os.rmdir(where)
    # late events whose time came from their data (engine_out checked it is the one they carry)
    timed = sum(1 for o in got if o[0] == "late") if "time" in doc.get("source", {}) else 0
    return why, got, dups, timed


def main():
    binary = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    tmp = tempfile.mkdtemp(prefix="pipeline-model.")
    stats = {"results": 0, "late": 0, "revised": 0, "pairs": 0, "unmatched": 0, "dead": 0,
             "refused": 0, "refused_joins": 0, "refused_tenant": 0, "refused_events": 0,
             "retractions": 0, "duplicates": 0, "late_timed": 0}
    # two cases at a time (each pipeline-run is a process of its own); reported in case order
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(lambda c: check_case(binary, seed, c, tmp), range(cases))
        for c, (why, got, dups, timed) in enumerate(runs):
            if why:
                print("pipeline model: case %d (seed %d) differs: %s" % (c, seed, why))
                print("  definition and input kept in %s" % os.path.join(tmp, str(c)))
                pool.shutdown(wait=True, cancel_futures=True)
                return 1
            stats["duplicates"] += dups
            stats["late_timed"] += timed
            stats["results"] += sum(1 for o in got if o[0] == "result")
            stats["late"] += sum(1 for o in got if o[0] == "late")
            stats["retractions"] += sum(1 for o in got if o[0] == "retraction")
            stats["revised"] += sum(1 for o in got if o[0] == "result" and o[1]["rev"] > 0)
            stats["pairs"] += sum(1 for o in got if o[0] == "pair" and o[1][2] is not None)
            stats["unmatched"] += sum(1 for o in got if o[0] == "pair" and o[1][2] is None)
            stats["dead"] += sum(1 for o in got if o[0] == "dead_letter")
            refused = sum(1 for o in got if o[0] == "dead_letter" and o[2].startswith("max_keys"))
            stats["refused_tenant"] += sum(1 for o in got if o[0] == "dead_letter"
                                           and o[2].startswith("max_keys_per_tenant"))
            stats["refused_events"] += sum(1 for o in got if o[0] == "dead_letter"
                                           and o[2].startswith("interval_join.max_events"))
            stats["refused"] += refused
            stats["refused_joins"] += refused if any(o[0] == "pair" for o in got) else 0
    # the cases must have exercised what they are for
    if min(stats.values()) < 20:
        print("pipeline model: too little exercised: %s" % stats)
        return 1
    print("pipeline model: %d cases agree (%d results, %d of them revisions, %d late events, "
          "%d joined pairs, %d unmatched left events, %d dead letters, %d of them past max_keys or "
          "max_keys_per_tenant (%d of these past the tenant's, %d in interval joins that paired), "
          "%d past an interval join's max_events_per_key, %d retractions of merged sessions, %d "
          "events dropped as repeats, %d late events timed by their data)"
          % (cases, stats["results"], stats["revised"], stats["late"], stats["pairs"],
             stats["unmatched"], stats["dead"], stats["refused"], stats["refused_tenant"],
             stats["refused_joins"], stats["refused_events"], stats["retractions"],
             stats["duplicates"], stats["late_timed"]))
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
