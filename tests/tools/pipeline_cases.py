"""pipeline_cases: the random cases of the pipeline model's differential test
(pipeline_model.py): definitions of every window kind and interval joins, with bounds on keys,
deduplication and times taken from the events' data (source.time), and their inputs (times that mostly grow with jumps back, partitions, tenants,
keys of any JSON value, watermark lines, events sent again)."""
import datetime
import json

BASE = 1767225600000  # 2026-01-01T00:00:00Z
NO_KEY = object()  # an event without one


def fmt_time(ms):
    s, r = divmod(ms, 1000)
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=s)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % r


def key_text(v):
    """a key as the engine groups by it: a string as it is, any other value as its JSON text"""
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def dur(ms):
    return "%dms" % ms if ms >= 0 else "-%dms" % -ms


def make_case(rng):
    kind = rng.choice(["tumbling", "hopping", "hopping", "session", "join"])
    if kind == "join":
        return make_join_case(rng)
    d = {"ooo": rng.choice([0, 0, 3, 10, 40]), "lateness": rng.choice([0, 0, 5, 20, 60]),
         "emit": rng.choice(["final", "final", "final", "update"])}
    if kind == "tumbling":
        d["window"] = {"type": "tumbling", "size": rng.choice([5, 10, 30])}
    elif kind == "hopping":
        size = rng.choice([10, 12, 30])
        slide = rng.choice([s for s in (2, 3, 4, 5, 6, 10) if s <= size])
        d["window"] = {"type": "hopping", "size": size, "slide": slide}
    else:
        d["window"] = {"type": "session", "gap": rng.choice([3, 8, 20])}
        if rng.random() < 0.5:  # retractions of the results of sessions a merge replaces
            d["window"]["retract"] = True
    if kind != "session" and rng.random() < 0.4:
        # Flink's offset: negative or positive, shorter than the slide (the size if tumbling)
        slide = d["window"].get("slide", d["window"]["size"])
        d["window"]["offset"] = rng.randint(1 - slide, slide - 1)
    if d["emit"] == "final" and rng.random() < 0.35:  # early firings, shorter than the size
        d["early"] = rng.choice([e for e in (1, 2, 3, 4, 7) if e < d["window"].get("size", 99)])
    if rng.random() < 0.3:
        d["having_n"] = rng.choice([2, 3])
    d["filter"] = rng.random() < 0.3
    win = dict(d["window"])
    for m in ("size", "slide", "gap", "offset"):
        if m in win:
            win[m] = dur(win[m])
    doc = {"name": "model", "key": "data.k", "window": win,
           "out_of_orderness": dur(d["ooo"]), "allowed_lateness": dur(d["lateness"]),
           "emit": d["emit"],
           "aggregates": {"n": "count()", "sum": "sum(data.v)", "lo": "min(data.v)",
                          "hi": "max(data.v)", "avg": "avg(data.v)", "d": "distinct(subject)",
                          "p": "percentile(data.v, 0.5)", "p0": "percentile(data.v, 0)",
                          "p1": "percentile(data.v, 1)", "sd": "stddev(data.v)",
                          "vp": "var_pop(data.v)", "first": "first(data.v)",
                          "last": "last_value(data.v)", "t3": "topk(data.v, 3)",
                          "td": "topk_distinct(data.v, 2)", "cl": "collect_list(data.v, 4)",
                          "cs": "collect_set(data.v)", "ci": "count_if(has(data.v))"}}
    if "having_n" in d:
        doc["having"] = "n >= %d" % d["having_n"]
    if rng.random() < 0.3:  # a bound on the keys (the default, 100,000, is never reached here)
        d["max_keys"] = doc["max_keys"] = rng.choice([1, 2, 3, 5])
    if rng.random() < 0.3:  # and on one tenant's
        d["max_keys_per_tenant"] = doc["max_keys_per_tenant"] = rng.choice([1, 2])
    if rng.random() < 0.35:  # repeats of an event (source and id) dropped while its windows live
        d["dedup"] = doc["deduplicate"] = True
    if "early" in d:
        doc["early"] = dur(d["early"])
    if d["filter"]:
        doc["source"] = {"filter": "type != 'skip'"}
    d["at"] = rng.random() < 0.25  # each event's time from its data (source.time)
    if d["at"]:
        doc.setdefault("source", {})["time"] = "data.at"
    steps = rng.choice([None, None, "filter", "flatMap"])
    if steps == "filter":  # a step that drops events (they still move the watermark)
        doc["steps"] = [{"filter": "data.drop == false"}]
    elif steps == "flatMap":  # one event per element of data.items, the element as its data
        doc["steps"] = [{"flatMap": "data.items"}]
    # input: times that mostly grow, with jumps back, around 2026 or the epoch (windows before
    # 1970 too); keys of any JSON value; values that are not numbers; events without a key or a
    # subject; tenants; skipped and dropped events; watermark lines, a `max` also midway
    base = rng.choice([BASE, BASE, 0])
    lines, t = [], rng.randrange(-50, 50)
    keys = rng.choice([["k0"], ["k0", "k1"], ["k0", "k1", "k2", "k3"],
                       ["k0", 1, "1", "", 'k"q', "\u00fc", None, True, 1.5, [1], {"a": 1}]])
    tenants = rng.choice([[None], [None, "acme"], ["acme", "globex"]])
    parts = new_partitions(rng, 1 if steps == "flatMap" else None)  # (elements have other keys)
    sent = []
    for i in range(rng.randrange(1, 120)):
        r = rng.random()
        if r < 0.06:
            lines.append({"watermark": fmt_time(base + t + rng.randrange(-40, 60))})
            continue
        if r < 0.062:
            lines.append({"watermark": "max"})
            continue
        if r < 0.13 and sent:  # an event again (a producer's retry), mostly a recent one
            ev = rng.choice(sent[-8:] if rng.random() < 0.8 else sent)
            switch_partition(rng, lines, parts, ev["data"]["k"] if "k" in ev["data"] else NO_KEY)
            lines.append(ev)
            continue
        t += rng.choice([0, 1, 1, 2, 3, 5, 8, 13])
        et = t - rng.choice([0, 0, 0, 0, 1, 4, 9, 25, 70]) if rng.random() < 0.4 else t
        data = {"k": rng.choice(keys), "drop": rng.random() < 0.15,
                "v": rng.choice([rng.randrange(-20, 100)] * 8 + [rng.randrange(-80, 80) / 8,
                                                                0.1, -0.0, "text", None])}
        if rng.random() < 0.03:
            del data["k"]
        if data["v"] is None:
            del data["v"]
        if steps == "flatMap":  # 0 to 3 elements, or no list (the event is dropped)
            items = []
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                el = dict(data, k=rng.choice(keys), v=rng.randrange(-20, 100))
                if rng.random() < 0.05:
                    del el["k"]
                items.append(el)
            data = {"items": items if rng.random() < 0.97 else "none"}
        et += switch_partition(rng, lines, parts, data["k"] if "k" in data else NO_KEY)
        ev = {"type": "skip" if d["filter"] and rng.random() < 0.2 else "t", "source": "/m",
              "id": str(i), "time": fmt_time(base + et), "data": data}
        if d["at"]:  # its time in data.at, as ms or RFC 3339; its own `time` absent or another
            data["at"] = base + et if rng.random() < 0.5 else fmt_time(base + et)
            if rng.random() < 0.5:
                del ev["time"]
            else:
                ev["time"] = fmt_time(base + et + rng.choice([-100000, 7, 3600000]))
        if rng.random() < 0.95:
            ev["subject"] = "u%d" % rng.randrange(6)
        add_event(rng, lines, ev, tenants)
        sent.append(ev)
    end_input(rng, lines)
    d["steps"] = steps
    return d, doc, lines


def new_partitions(rng, n=None):
    """one to three input partitions, each with its own skew of event times (so a partition
    behind the others is on time, as long as it has sent something)"""
    n = n or rng.choice([1, 1, 1, 2, 3])
    return {"n": n, "cur": 0, "of_key": {},
            "skew": [0] + [rng.choice([0, -8, -30, 15, 50]) for _ in range(n - 1)]}


def switch_partition(rng, lines, parts, key):
    """the {"partition": N} line before an event of key, when it is not read from the partition
    of the event before: each key's events come from one partition (as a Kafka topic keyed by
    the pipeline's key gives them, which pipelines read in one stage need, since the engine keeps
    windows per partition); now and then first one naming a partition that may send nothing
    after it. Returns the skew of the partition the event comes from."""
    if parts["n"] == 1:
        return 0
    if rng.random() < 0.05:
        parts["cur"] = rng.randrange(parts["n"])
        lines.append({"partition": parts["cur"]})
    if key is not NO_KEY:
        p = parts["of_key"].setdefault(key_text(key), rng.randrange(parts["n"]))
        if p != parts["cur"]:
            parts["cur"] = p
            lines.append({"partition": p})
    return parts["skew"][parts["cur"]]


def add_event(rng, lines, ev, tenants):
    """appends an input event, of one of the tenants (None: without one)"""
    tenant = rng.choice(tenants)
    if tenant:
        ev["tenant"] = tenant
    lines.append(ev)


def end_input(rng, lines):
    """most inputs end with a watermark that flushes every window; the others leave them open"""
    if rng.random() < 0.8:
        lines.append({"watermark": "max"})


def make_join_case(rng):
    lower = rng.choice([-20, -5, 0, 0, 3])
    upper = lower + rng.choice([0, 5, 10, 30])
    d = {"ooo": rng.choice([0, 0, 3, 10, 40]), "lateness": rng.choice([0, 0, 5, 20]),
         "join": {"lower": lower, "upper": upper, "outer": rng.random() < 0.5}}
    doc = {"name": "model", "key": "data.k",
           "interval_join": {"left": {"filter": "type == 'l'", "as": "a"},
                             "right": {"filter": "type == 'r'", "as": "b"},
                             "lower": dur(lower), "upper": dur(upper),
                             "type": "left" if d["join"]["outer"] else "inner"},
           "out_of_orderness": dur(d["ooo"]), "allowed_lateness": dur(d["lateness"])}
    if rng.random() < 0.3:
        d["max_keys"] = doc["max_keys"] = rng.choice([1, 2, 3])
    if rng.random() < 0.3:
        d["max_keys_per_tenant"] = doc["max_keys_per_tenant"] = 1
    if rng.random() < 0.3:
        d["join"]["max_events"] = rng.choice([1, 2, 3])
        doc["interval_join"]["max_events_per_key"] = d["join"]["max_events"]
    d["flat"] = rng.random() < 0.4
    if d["flat"]:  # each event joins as 0 to 3 events, its elements beside the rest of data
        doc["steps"] = [{"flatMap": {"expr": "data.items", "as": "it"}}]
    base = rng.choice([BASE, 0])
    lines, t = [], rng.randrange(-50, 50)
    nkeys = rng.choice([1, 2, 4])
    tenants = rng.choice([[None], [None, "acme"]])
    parts = new_partitions(rng)
    for i in range(rng.randrange(1, 80)):
        if rng.random() < 0.05:
            lines.append({"watermark": fmt_time(base + t + rng.randrange(-40, 60))})
            continue
        t += rng.choice([0, 1, 2, 3, 5, 8])
        et = t - rng.choice([0, 0, 1, 4, 9, 25, 70]) if rng.random() < 0.4 else t
        k = "k%d" % rng.randrange(nkeys)
        et += switch_partition(rng, lines, parts, k)
        # two sources whose ids repeat each other's (an id is unique within its source only)
        ev = {"type": rng.choice(["l", "r", "r", "x"]), "source": "/a" if i % 2 else "/b",
              "id": str(i // 2),
              "time": fmt_time(base + et), "subject": "u",
              "data": {"k": k, "v": i}}
        if d["flat"]:
            ev["data"]["items"] = list(range(rng.choice([0, 1, 1, 2, 3])))
        add_event(rng, lines, ev, tenants)
    end_input(rng, lines)
    return d, doc, lines
